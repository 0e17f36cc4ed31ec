"""One module per lemma or theorem of docs/mathematics.md; see :mod:`theorems.registry`."""

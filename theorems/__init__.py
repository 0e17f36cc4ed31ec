"""One module per lemma or theorem of MATH.md; see :mod:`theorems.registry`."""

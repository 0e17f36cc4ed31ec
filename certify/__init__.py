"""attncert: rigorous certificates for softmax-attention approximation (arXiv 2504.15956)."""

__version__ = "0.1.0"

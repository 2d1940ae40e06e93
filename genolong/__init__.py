"""genolong: long-context genome annotation with efficient Transformers."""

__version__ = "0.1.0"

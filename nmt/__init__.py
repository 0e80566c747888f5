"""Batch neural machine translation with the Bahdanau, Cho and Bengio (2014) attention model."""

__version__ = "0.1.0"

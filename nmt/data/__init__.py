"""Corpus data: the acquire stage, its downloads, archives, readers, cleaning filters and splits."""

from nmt.data.acquire import AcquireConfig, CatalogueSource, DirectorySource, GeneratedSource, run_acquire
from nmt.data.pairs import read_split, split_names

__all__ = [
    "AcquireConfig",
    "CatalogueSource",
    "DirectorySource",
    "GeneratedSource",
    "read_split",
    "run_acquire",
    "split_names",
]

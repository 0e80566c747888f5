"""Corpus data: the acquire stage, its downloads, archives, readers, cleaning filters and splits."""

from nmt.data.acquire import AcquireConfig, CatalogueSource, DirectorySource, GeneratedSource, run_acquire

__all__ = ["AcquireConfig", "CatalogueSource", "DirectorySource", "GeneratedSource", "run_acquire"]

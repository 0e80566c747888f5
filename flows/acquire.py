"""Prefect flow of the acquire stage."""

from pathlib import Path

from prefect import flow, task

from nmt.data.acquire import AcquireConfig
from nmt.pipeline import acquire_stage


@task(name="acquire-corpus", retries=3, retry_delay_seconds=[5, 30, 120])
def acquire_task(run_dir: Path, cfg: AcquireConfig, cluster: str | None = None) -> dict:
    """Download (with retries), read and clean the corpus into the run's pairs table."""
    return acquire_stage(run_dir, cfg, cluster)


@flow(name="acquire")
def acquire(run_dir: Path, cfg: AcquireConfig, cluster: str | None = None) -> dict:
    """Acquire a corpus into <run_dir>/acquire.

    Given `cluster` (a Dask scheduler address such as tcp://10.0.0.5:8786), the records are
    cleaned in chunks on its workers, to the same bytes as here; this process reads and writes.
    """
    return acquire_task(run_dir, cfg, cluster)

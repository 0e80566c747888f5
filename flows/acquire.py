"""Prefect flow of the acquire stage."""

from pathlib import Path

from prefect import flow, task

from nmt.data.acquire import AcquireConfig
from nmt.pipeline import acquire_stage


@task(name="acquire-corpus", retries=3, retry_delay_seconds=[5, 30, 120])
def acquire_task(run_dir: Path, cfg: AcquireConfig) -> dict:
    """Download (with retries), read and clean the corpus into the run's pairs table."""
    return acquire_stage(run_dir, cfg)


@flow(name="acquire")
def acquire(run_dir: Path, cfg: AcquireConfig) -> dict:
    """Acquire a corpus into <run_dir>/acquire."""
    return acquire_task(run_dir, cfg)

"""Prefect flow of the tokenize stage."""

from pathlib import Path

from prefect import flow, task

from nmt.pipeline import tokenize_stage
from nmt.text.tokenization import TokenizeConfig


@task(name="tokenize-corpus", retries=1)
def tokenize_task(run_dir: Path, cfg: TokenizeConfig, cluster: str | None = None) -> dict:
    """Train sentencepiece and write the token shards."""
    return tokenize_stage(run_dir, cfg, cluster)


@flow(name="tokenize", flow_run_name="tokenize {cfg.model_type} {cfg.vocab_size}")
def tokenize(run_dir: Path, cfg: TokenizeConfig, cluster: str | None = None) -> dict:
    """Tokenize <run_dir>/acquire/pairs.parquet into <run_dir>/tokenize.

    Given `cluster` (a Dask scheduler address), the corpus is encoded in chunks on its
    workers, to the same bytes as here; sentencepiece trains in this process.
    """
    return tokenize_task(run_dir, cfg, cluster)

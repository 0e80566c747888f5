"""Prefect flow of the tokenize stage."""

from pathlib import Path

from prefect import flow, task

from nmt.pipeline import tokenize_stage
from nmt.text.tokenization import TokenizeConfig


@task(name="tokenize-corpus", retries=1)
def tokenize_task(run_dir: Path, cfg: TokenizeConfig) -> dict:
    """Train sentencepiece and write the token shards."""
    return tokenize_stage(run_dir, cfg)


@flow(name="tokenize", flow_run_name="tokenize {cfg.model_type} {cfg.vocab_size}")
def tokenize(run_dir: Path, cfg: TokenizeConfig) -> dict:
    """Tokenize <run_dir>/acquire/pairs.parquet into <run_dir>/tokenize."""
    return tokenize_task(run_dir, cfg)

"""Prefect flow of the train stage; a retry resumes from the last checkpoint."""

from pathlib import Path

from prefect import flow, task

from nmt.pipeline import train_stage
from nmt.train import TrainConfig


@task(name="train-model", retries=2, retry_delay_seconds=10)
def train_task(run_dir: Path, cfg: TrainConfig) -> dict:
    """Train (resuming from <run_dir>/train/checkpoints/last.pt when present)."""
    return train_stage(run_dir, cfg)


@flow(name="train", flow_run_name="train {cfg.preset}")
def train(run_dir: Path, cfg: TrainConfig) -> dict:
    """Train the Bahdanau model on <run_dir>/tokenize into <run_dir>/train."""
    return train_task(run_dir, cfg)

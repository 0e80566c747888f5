"""Prefect flow of the train stage; a retry resumes from the last checkpoint."""

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.gpu import gpu_slot
from nmt.pipeline import train_stage
from nmt.train.config import TrainConfig


def _publish_metrics(run_name: str):
    """A callback that republishes the validation history as a table artifact each time."""
    rows: list[dict[str, Any]] = []

    def publish(record: dict[str, Any]) -> None:
        rows.append(record)
        create_table_artifact(rows, key="train-metrics", description=f"Validations of {run_name} so far")

    return publish


@task(name="train-model", retries=2, retry_delay_seconds=10)
def train_task(run_dir: Path, cfg: TrainConfig) -> dict:
    """Train (resuming from <run_dir>/train/checkpoints/last.pt when present) in a GPU slot on CUDA."""
    with gpu_slot(cfg.device):
        return train_stage(run_dir, cfg, on_validation=_publish_metrics(Path(run_dir).name))


@flow(name="train", flow_run_name="train {cfg.preset}")
def train(run_dir: Path, cfg: TrainConfig) -> dict:
    """Train the Bahdanau model on <run_dir>/tokenize into <run_dir>/train."""
    return train_task(run_dir, cfg)

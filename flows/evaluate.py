"""Prefect flow of the evaluate stage."""

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.gpu import gpu_slot
from nmt.evaluate.scores import EvaluateConfig
from nmt.pipeline import evaluate_stage


@task(name="score-test-sets")
def evaluate_task(run_dir: Path, cfg: EvaluateConfig) -> dict:
    """Translate every test set and score it (sacrebleu, gold alignments), in a GPU slot on CUDA."""
    with gpu_slot(cfg.device):
        return evaluate_stage(run_dir, cfg)


@flow(name="evaluate", flow_run_name="evaluate {run_dir.name}")
def evaluate(run_dir: Path, cfg: EvaluateConfig) -> dict:
    """Score the run's model; the metrics become a table artifact."""
    summary = evaluate_task(run_dir, cfg)
    create_table_artifact(
        summary["metrics"], key="test-scores", description=f"Test scores of {Path(run_dir).name}"
    )
    return summary

"""Prefect flow of the evaluate stage."""

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from nmt.evaluate import EvaluateConfig
from nmt.pipeline import evaluate_stage


@task(name="score-test-sets")
def evaluate_task(run_dir: Path, cfg: EvaluateConfig) -> dict:
    """Translate the test split(s) and score them with sacrebleu."""
    return evaluate_stage(run_dir, cfg)


@flow(name="evaluate", flow_run_name="evaluate beam {cfg.beam}")
def evaluate(run_dir: Path, cfg: EvaluateConfig) -> dict:
    """Score the run's model; the scores become a table artifact."""
    summary = evaluate_task(run_dir, cfg)
    rows = [{"split": split, **scores} for split, scores in summary["scores"].items()]
    create_table_artifact(rows, key="test-scores", description=f"Test scores of {Path(run_dir).name}")
    return summary

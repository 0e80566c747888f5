"""The retrain flow: train a candidate and promote it only if it beats the current model."""

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.gpu import gpu_slot
from flows.pipeline import run_stage_flow
from nmt import report
from nmt.evaluate.scores import EvaluateConfig
from nmt.ops.recipes import pipeline_config
from nmt.ops.registry import Registry
from nmt.ops.retrain import consider
from nmt.ops.summaries import retrain_line, retrain_markdown
from nmt.pipeline import build_model


@task(name="compare-and-promote")
def promote_task(run_dir: Path, registry: str | None, decoding: EvaluateConfig, dev_split: str) -> dict:
    """Score candidate and current model on the dev split, register the candidate, promote if better."""
    with gpu_slot(decoding.device):
        return consider(run_dir, Registry.open(registry), decoding, dev_split)


@flow(name="retrain", flow_run_name="retrain {corpus} {pair} {preset}")
def retrain(
    corpus: str = "generated",
    pair: str = "en-xx",
    preset: str = "small",
    max_minutes: float = 30.0,
    run_root: str = "data/runs",
    registry: str | None = None,
    dev_split: str = "valid",
    overrides: dict[str, Any] | None = None,
) -> dict:
    """Train a candidate on `corpus` (any PipelineConfig fields in `overrides`) and consider it."""
    cfg = pipeline_config(corpus, pair, preset, max_minutes, run_root, overrides)
    run_dir = build_model(cfg, run_stage_flow)
    decision = promote_task(run_dir, registry, cfg.evaluate, dev_split)
    markdown = report.to_markdown(report.load(run_dir), embed_images=True) + "\n" + retrain_markdown(decision)
    create_markdown_artifact(markdown, key="retrain-report")
    get_run_logger().info(retrain_line(decision))
    return decision

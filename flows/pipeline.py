"""The pipeline flow: acquire -> tokenize -> train -> evaluate -> translate, each a subflow.

`pipeline_for_pair` builds the config from a corpus, pair, preset and time budget (the ad hoc
deployment) and registers the trained model.
"""

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact

from flows.acquire import acquire
from flows.evaluate import evaluate
from flows.tokenize import tokenize
from flows.train import train
from flows.translate import translate
from nmt import report
from nmt.ops.recipes import describe, pipeline_config
from nmt.ops.registry import Registry
from nmt.ops.retrain import register_run
from nmt.ops.summaries import pipeline_line
from nmt.pipeline import SAMPLE_JOB, PipelineConfig, write_sample_documents


def _run_name() -> str:
    """The pipeline's run name: corpus, pair, preset and budget of its config."""
    return f"pipeline {describe(PipelineConfig.model_validate(runtime.flow_run.parameters['cfg']))}"


@flow(name="nmt-pipeline", flow_run_name=_run_name)
def pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage into one run directory and return its report."""
    run_dir = cfg.run_dir()
    acquire(run_dir, cfg.acquire)
    tokenize(run_dir, cfg.tokenize)
    train(run_dir, cfg.train)
    evaluate(run_dir, cfg.evaluate)
    inputs = cfg.documents or [write_sample_documents(run_dir)]
    translate(run_dir, inputs, cfg.translate, SAMPLE_JOB)
    result = report.load(run_dir)
    create_markdown_artifact(report.to_markdown(result), key="run-report")
    get_run_logger().info(pipeline_line(result))
    return result


@task(name="register-model")
def register_task(run_dir: Path, registry: str | None) -> dict:
    """Register the trained run; promote it only when its pair has no current model yet."""
    return register_run(run_dir, Registry.open(registry))


def _pair_run_name() -> str:
    """The run name of pipeline_for_pair: corpus, pair, preset and budget."""
    p = runtime.flow_run.parameters
    return f"pipeline {p['corpus']} {p['pair']} {p['preset']} {float(p['max_minutes']):g}min"


@flow(name="pipeline-for-pair", flow_run_name=_pair_run_name)
def pipeline_for_pair(
    corpus: str = "generated",
    pair: str = "en-xx",
    preset: str = "small",
    max_minutes: float = 10.0,
    run_root: str = "data/runs",
    registry: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict:
    """The whole pipeline for one corpus and pair (any PipelineConfig fields in `overrides`), registered."""
    result = pipeline(pipeline_config(corpus, pair, preset, max_minutes, run_root, overrides))
    registered = register_task(Path(result["run_dir"]), registry)
    current = " (now current: the first of its pair)" if registered["promoted"] else ""
    get_run_logger().info(f"{pipeline_line(result)}; model {registered['model_id']}{current}")
    return {**result, "model_id": registered["model_id"]}

"""The pipeline flow: acquire -> tokenize -> align -> train -> evaluate -> translate, each a subflow.

`pipeline_for_pair` builds the config from a corpus, pair, preset and time budget (the ad hoc
deployment) and registers the trained model.
"""

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel

from flows.acquire import acquire
from flows.align import align
from flows.evaluate import evaluate
from flows.tokenize import tokenize
from flows.train import train
from flows.translate import translate
from nmt import report
from nmt.ops.recipes import describe, pipeline_config
from nmt.ops.registry import Registry
from nmt.ops.retrain import register_run
from nmt.ops.summaries import pipeline_line
from nmt.pipeline import SAMPLE_JOB, PipelineConfig, build_model, translation_inputs

# The flow of each stage of nmt.pipeline.BUILD_STAGES (its tasks call the same stage functions).
STAGE_FLOWS = {"acquire": acquire, "tokenize": tokenize, "align": align, "train": train, "evaluate": evaluate}


def run_stage_flow(name: str, run_dir: Path, cfg: BaseModel, **options: Any) -> dict:
    """nmt.pipeline's StageRunner for flows: run the stage as its own (sub)flow (`options`: its cluster)."""
    return STAGE_FLOWS[name](run_dir, cfg, **options)


def _run_name() -> str:
    """The pipeline's run name: corpus, pair, preset and budget of its config."""
    return f"pipeline {describe(PipelineConfig.model_validate(runtime.flow_run.parameters['cfg']))}"


@flow(name="nmt-pipeline", flow_run_name=_run_name)
def pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage into one run directory (acquire and tokenize on cfg.cluster if set); its report."""
    run_dir = build_model(cfg, run_stage_flow)
    translate(run_dir, translation_inputs(cfg, run_dir), cfg.translate, SAMPLE_JOB)
    result = report.load(run_dir)
    create_markdown_artifact(report.to_markdown(result, embed_images=True), key="run-report")
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

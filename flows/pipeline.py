"""The pipeline flow: acquire -> tokenize -> train -> evaluate -> translate, each a subflow."""

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.acquire import acquire
from flows.evaluate import evaluate
from flows.tokenize import tokenize
from flows.train import train
from flows.translate import translate
from nmt import report
from nmt.pipeline import SAMPLE_JOB, PipelineConfig, write_sample_documents


@flow(name="nmt-pipeline")
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
    return result

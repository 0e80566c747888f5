"""Prefect flow of the translate stage."""

from pathlib import Path

from prefect import flow, task

from nmt.pipeline import translate_stage
from nmt.translate import TranslateConfig


@task(name="translate-documents", retries=1)
def translate_task(run_dir: Path, inputs: list[Path], cfg: TranslateConfig, job_id: str) -> dict:
    """Translate the documents; finished shards are skipped on a retry."""
    return translate_stage(run_dir, inputs, cfg, job_id)


@flow(name="translate", flow_run_name="translate {job_id}")
def translate(run_dir: Path, inputs: list[Path], cfg: TranslateConfig, job_id: str) -> dict:
    """Translate documents with the model of <run_dir> into <run_dir>/translate/<job_id>."""
    return translate_task(run_dir, inputs, cfg, job_id)

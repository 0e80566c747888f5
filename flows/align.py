"""Prefect flow of the align stage: eflomal links of a run's training pairs, and its priors."""

from pathlib import Path

from prefect import flow, task

from nmt.align.corpus import AlignCorpusConfig
from nmt.pipeline import align_stage


@task(name="align-corpus", retries=1)
def align_corpus_task(run_dir: Path, cfg: AlignCorpusConfig) -> dict:
    """Align the pairs both ways into <run_dir>/align and map their words to pieces."""
    return align_stage(run_dir, cfg)


@flow(name="align", flow_run_name="align {run_dir}")
def align(run_dir: Path, cfg: AlignCorpusConfig | None = None) -> dict:
    """Align <run_dir>/acquire/pairs.parquet into <run_dir>/align (links, priors, pieces of each word)."""
    return align_corpus_task(run_dir, cfg or AlignCorpusConfig())

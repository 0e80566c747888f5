"""Prefect flow of the translate stage: plan, shared sentences, a task per shard (threads, Dask), finalize."""

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.gpu import gpu_slot
from nmt import report
from nmt.core.rundir import RunDir
from nmt.model.checkpoint import find_checkpoint
from nmt.translate.config import TranslateConfig, with_source_lang
from nmt.translate.job import TranslateJob, finish_job, job_lock, start_job
from nmt.translate.translator import checkpoint_id
from nmt.translate.worker import run_shard, run_shared


@task(name="plan-translation")
def plan_task(run_dir: Path, inputs: list[Path], cfg: TranslateConfig, job_id: str) -> TranslateJob:
    """Cut the inputs into shards, or find the job already complete."""
    model_id = checkpoint_id(find_checkpoint(run_dir))
    return start_job(inputs, model_id, cfg, RunDir(run_dir).translate_job(job_id))


@task(name="translate-shared", retries=1)
def shared_task(job: TranslateJob, run_dir: Path, cfg: TranslateConfig) -> dict:
    """Translate the sentences shards share once, before any shard (a GPU slot on CUDA); skip if done."""
    with gpu_slot(cfg.device):
        return run_shared(job, run_dir, cfg)


@task(name="translate-shard", retries=1)
def shard_task(job: TranslateJob, shard: int, run_dir: Path, cfg: TranslateConfig, concurrent: int) -> dict:
    """Translate one shard with this process's cached model (a GPU slot on CUDA); skip if done."""
    with gpu_slot(cfg.device):
        return run_shard(job, shard, run_dir, cfg, concurrent)


@task(name="finalize-translation")
def finalize_task(run_dir: Path, job: TranslateJob, cfg: TranslateConfig) -> dict:
    """Join the shards into the job's documents and tables; record the summary in the run report."""
    summary = finish_job(job, cfg)
    report.record(run_dir, "translate", summary)
    return summary


def shard_runner(cluster: str | None, workers: int) -> TaskRunner:
    """A pool of `workers` threads in this process, or a client of the Dask scheduler at `cluster`."""
    if cluster is None:
        return ThreadPoolTaskRunner(max_workers=workers)
    if not PREFECT_API_URL.value():
        raise ValueError("shards on a Dask cluster report to a Prefect server: set PREFECT_API_URL")
    from prefect_dask import DaskTaskRunner  # the optional "dask" extra

    return DaskTaskRunner(address=cluster)


@flow(name="translate", flow_run_name="translate {job_id}")
def translate(
    run_dir: Path,
    inputs: list[Path],
    cfg: TranslateConfig,
    job_id: str,
    cluster: str | None = None,
    workers: int = 1,
) -> dict:
    """Translate documents with the model of <run_dir> into <run_dir>/translate/<job_id>.

    The shared sentences, then the shards, run on `workers` threads of this process, or, given
    `cluster` (a Dask scheduler address such as tcp://10.0.0.5:8786), on that cluster's workers,
    which must see the same paths.
    """
    cfg = with_source_lang(cfg, run_dir)
    with job_lock(RunDir(run_dir).translate_job(job_id)):  # held by this process, not by the shards
        job = plan_task(run_dir, inputs, cfg, job_id)
        concurrent = workers if cluster is None else 1
        with shard_runner(cluster, workers) as runner:
            if not job.complete:
                runner.submit(shared_task, {"job": job, "run_dir": run_dir, "cfg": cfg}).result()
            params = {"job": unmapped(job), "run_dir": unmapped(run_dir), "cfg": unmapped(cfg)}
            shards = {**params, "shard": job.pending, "concurrent": unmapped(concurrent)}
            runner.map(shard_task, shards).result()
        return finalize_task(run_dir, job, cfg)

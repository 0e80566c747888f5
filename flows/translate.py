"""Prefect flow of the translate stage: plan, shared sentences, a task per shard (threads, Dask), finalize."""

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.gpu import gpu_slot
from nmt import report
from nmt.api import resolve_model
from nmt.core.rundir import RunDir
from nmt.model.export import is_export, model_id_of
from nmt.translate.config import TranslateConfig, with_source_lang
from nmt.translate.job import TranslateJob, finish_job, job_lock, start_job
from nmt.translate.worker import run_shard, run_shared


@task(name="plan-translation")
def plan_task(model_dir: Path, inputs: list[Path], cfg: TranslateConfig, out_dir: Path) -> TranslateJob:
    """Cut the inputs into shards, or find the job already complete."""
    return start_job(inputs, model_id_of(model_dir), cfg, out_dir)


@task(name="translate-shared", retries=1)
def shared_task(job: TranslateJob, model_dir: Path, cfg: TranslateConfig) -> dict:
    """Translate the sentences shards share once, before any shard (a GPU slot on CUDA); skip if done."""
    with gpu_slot(cfg.device):
        return run_shared(job, model_dir, cfg)


@task(name="translate-shard", retries=1)
def shard_task(job: TranslateJob, shard: int, model_dir: Path, cfg: TranslateConfig, concurrent: int) -> dict:
    """Translate one shard with this process's cached model (a GPU slot on CUDA); skip if done."""
    with gpu_slot(cfg.device):
        return run_shard(job, shard, model_dir, cfg, concurrent)


@task(name="finalize-translation")
def finalize_task(run_dir: Path | None, job: TranslateJob, cfg: TranslateConfig) -> dict:
    """Join the shards into the job's documents and tables; record the summary in the run's report if any."""
    summary = finish_job(job, cfg)
    if run_dir is not None:
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
    model: Path | str,
    inputs: list[Path],
    cfg: TranslateConfig,
    job_id: str,
    cluster: str | None = None,
    workers: int = 1,
    out_dir: Path | None = None,
    registry: Path | None = None,
) -> dict:
    """Translate documents with `model` into `out_dir`, by default <run>/translate/<job_id>.

    `model` is what `nmt translate --model` takes (nmt.api.resolve_model): a run folder, an exported
    model, a model id of `registry` (default $NMT_REGISTRY, else data/registry) or a pair's model.
    A run given as a folder keeps the job and its summary in its report; any other model needs
    `out_dir`. The shared sentences, then the shards, run on `workers` threads of this process,
    or, given `cluster` (a Dask scheduler address such as tcp://10.0.0.5:8786), on that cluster's
    workers, which must see the same paths.
    """
    model_dir = resolve_model(model, registry)
    run_dir = model_dir if Path(model).is_dir() and not is_export(model_dir) else None
    if out_dir is None:
        if run_dir is None:
            raise ValueError(f"model {model} is not a run folder: give out_dir for the translate job")
        out_dir = RunDir(run_dir).translate_job(job_id)
    cfg = with_source_lang(cfg, model_dir)
    with job_lock(out_dir):  # held by this process, not by the shards
        job = plan_task(model_dir, inputs, cfg, out_dir)
        concurrent = workers if cluster is None else 1
        with shard_runner(cluster, workers) as runner:
            if not job.complete:
                runner.submit(shared_task, {"job": job, "model_dir": model_dir, "cfg": cfg}).result()
            params = {"job": unmapped(job), "model_dir": unmapped(model_dir), "cfg": unmapped(cfg)}
            shards = {**params, "shard": job.pending, "concurrent": unmapped(concurrent)}
            runner.map(shard_task, shards).result()
        return finalize_task(run_dir, job, cfg)

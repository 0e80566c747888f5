"""One step of a started translate job (shared sentences, or a shard), run where a scheduler picked.

A scheduler (Prefect's thread pool in the flow's process, or a Dask worker process) calls
`run_shared` once, then `run_shard` once per shard. The model (a run's, or an exported one) is
loaded on a process's first step and kept for the next ones, and loaded again only when its
checkpoint (an export's weights) changes, so a shard costs its decoding, not a model load. Tasks
share the cached model: decoding only reads it.

Torch threads: under OpenMP `torch.set_num_threads` holds for the calling thread, so it is set in
the thread that decodes. `cfg.threads` wins; otherwise `concurrent` shards decoding at once in
one process share this machine's cores (each gets cores // concurrent), and a lone shard (or
the shared step, which runs before any shard) keeps torch's default. Dask's nanny starts workers
with OMP_NUM_THREADS=1, so a worker process with one thread decodes one shard on one core: start
one single-threaded worker per core (or per GPU).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import torch

from nmt.core.cores import usable_cores
from nmt.model.export import model_file
from nmt.translate.config import TranslateConfig
from nmt.translate.job import TranslateJob
from nmt.translate.shard import translate_shard, translate_shared
from nmt.translate.translator import Translator

_LOCK = threading.Lock()  # one load at a time: concurrent first shards would each load the model


@functools.lru_cache(maxsize=2)
def _load(model_dir: str, device: str, stamp: tuple[int, int]) -> Translator:
    """The Translator of model_dir; `stamp` (model file mtime and size) makes a new model a new entry."""
    return Translator.load(Path(model_dir), device)


def cached_translator(model_dir: Path, device: str = "cpu") -> Translator:
    """This process's Translator of a run or an export, loaded again only when its model file changes."""
    stat = model_file(model_dir).stat()
    with _LOCK:
        return _load(str(model_dir), device, (stat.st_mtime_ns, stat.st_size))


def shard_threads(cfg: TranslateConfig, concurrent: int) -> int | None:
    """Torch threads for one shard: cfg.threads, else the cores shared by `concurrent` shards, else None."""
    if cfg.threads or concurrent <= 1:
        return cfg.threads
    return max(1, usable_cores() // concurrent)


def run_shared(job: TranslateJob, model_dir: Path, cfg: TranslateConfig) -> dict:
    """Translate the shared sentences of a started job in this thread (no shard runs yet); its summary."""
    return translate_shared(job.out_dir, _job_translator(job, model_dir, cfg, concurrent=1), cfg)


def run_shard(
    job: TranslateJob, shard: int, model_dir: Path, cfg: TranslateConfig, concurrent: int = 1
) -> dict:
    """Translate one shard of a started job in this thread with this process's model; its summary."""
    return translate_shard(job.out_dir, shard, _job_translator(job, model_dir, cfg, concurrent), cfg)


def _job_translator(job: TranslateJob, model_dir: Path, cfg: TranslateConfig, concurrent: int) -> Translator:
    """This process's model for a step of `job`, this thread's torch threads set; raises if not the job's."""
    threads = shard_threads(cfg, concurrent)
    if threads:
        torch.set_num_threads(threads)
    translator = cached_translator(model_dir, cfg.device)
    if translator.model_id != job.model_id:
        raise ValueError(
            f"{model_dir} now holds model {translator.model_id}; the job was started with {job.model_id}"
        )
    return translator

"""Translate stage: documents in, translated documents and Arrow tables out, in crash-safe shards.

    <out>/plan/shard-<k>.jsonl       the inputs of shard k, one JSON line each (see plan_job)
    <out>/plan/shared.jsonl          the sentences found in two or more shards, one JSON string each
    <out>/plan/plan.json             shard count and sentence counts; written last: the plan is done
    <out>/shards/shared/results.parquet  the shared sentences' translations, attention and n-best
    <out>/shards/shared/_SUCCESS     the shared step's count, written last: the shared step is done
    <out>/shards/<k>/*.parquet       one shard's translations, alignments and errors
    <out>/shards/<k>/_SUCCESS        the shard's summary, written last: the shard is done
    <out>/docs/<doc_id>              each translated document, same format and paragraphs
    <out>/docs/<table>.parts/<k>     shard k's slice of a translated JSONL/Parquet table
    <out>/translations.parquet       TRANSLATIONS, one row per input sentence, in input order
    <out>/alignments.parquet         ALIGNMENTS, the same rows
    <out>/errors.parquet             ERRORS, one row per input (or sentence) not translated
    <out>/summary.json               the job's counts; written last: the job is done

The modules of a job, in the order a job runs them:

    config.py      TranslateConfig: its DecodeConfig (nmt.model.search) plus the job's I/O settings
    plan.py        plan_job: inputs listed in a fixed order, cut into shards (a document is never
                   split, a table is cut between records), the sentences shards share found
    shard.py       translate_shared, then translate_shard per shard: the units of work a scheduler
                   may run anywhere, in any order; documents and table slices written
    tables.py      the Arrow tables a step writes (RESULTS, TRANSLATIONS, ALIGNMENTS, ERRORS)
    translator.py  the Translator every step decodes with
    job.py         this module: start_job (plan, or find the job complete), finish_job
                   (finalize_job: concatenate the shards' tables, join the table slices, remove
                   plan/ and shards/), and translate_job / run_translate, which run it all here
    worker.py      one step in a scheduler's process (the Prefect flow runs steps as tasks)

Every file is written atomically and a step is skipped once its _SUCCESS marker exists, so a
job killed at any moment and run again ends with the same bytes as an uninterrupted run: each
step decodes the same sentences in the same batches (with the same torch thread count: CPU
kernels sum in a thread-count-dependent order, so set `threads` where bytes must match across
runs). Identical sentences are translated once per job (see plan.py and shard.py).

Sentences longer than `max_sentence_chars` (a 1 MB line with no sentence break) stay
untranslated in the output document and get an ERRORS row; they have no TRANSLATIONS row.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from nmt.core.atomic import atomic_path, read_json, remove_temporaries, write_json
from nmt.core.lock import folder_lock
from nmt.core.schema import with_metadata
from nmt.translate.config import TranslateConfig, with_source_lang
from nmt.translate.plan import check_fingerprint, job_fingerprint, plan_job
from nmt.translate.shard import (
    MARKER,
    join_parts,
    shard_dir,
    shard_done,
    shared_dir,
    translate_shard,
    translate_shared,
)
from nmt.translate.tables import TABLES
from nmt.translate.translator import Translator

log = logging.getLogger(__name__)


def run_translate(inputs: list[Path], model_dir: Path, cfg: TranslateConfig, out_dir: Path) -> dict:
    """Translate documents with the model of `model_dir` (a run or an exported model) into `out_dir`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    translator = Translator.load(Path(model_dir), cfg.device)
    return translate_job(inputs, translator, cfg, out_dir)


def translate_job(
    inputs: list[str | Path], translator: Translator, cfg: TranslateConfig, out_dir: Path
) -> dict:
    """Plan, translate the shared sentences, then each unfinished shard, finalize; the job's summary.

    A second process on the same out_dir waits for the first (see job_lock), then finds the job
    complete and returns its summary.
    """
    cfg = with_source_lang(cfg, translator.model_dir)
    with job_lock(out_dir):
        job = start_job(inputs, translator.model_id, cfg, out_dir)
        if not job.complete:
            name = cfg.job_id or job.out_dir.name
            off = not cfg.progress
            shared_off = off or not job.shared
            with tqdm(total=job.shared, unit="sent", desc=f"shared {name}", disable=shared_off) as bar:
                translate_shared(job.out_dir, translator, cfg, progress=bar.update)
            with tqdm(total=job.sentences, unit="sent", desc=f"translate {name}", disable=off) as bar:
                for shard in range(job.shards):
                    translate_shard(job.out_dir, shard, translator, cfg, progress=bar.update)
        return finish_job(job, cfg)


def job_lock(out_dir: Path) -> AbstractContextManager[None]:
    """Hold the job folder's lock from start to finish; a second process waits, then finds it complete."""
    return folder_lock(Path(out_dir), "translate", wait=True)


class TranslateJob(BaseModel):
    """A started job, small enough to pass between tasks: its folder, model, shards and start time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    out_dir: Path
    model_id: str
    shards: int = Field(description="shard count of the plan")
    sentences: int = Field(description="sentences to translate, all shards together")
    shared: int = Field(description="sentences of two or more shards, for translate_shared; 0 if complete")
    pending: list[int] = Field(description="shards not finished when the job started")
    complete: bool = Field(description="summary.json was there: the job was already done")
    started: float = Field(description="time.time() when the job started")


def start_job(inputs: list[str | Path], model_id: str, cfg: TranslateConfig, out_dir: Path) -> TranslateJob:
    """Find the job in out_dir already complete (same fingerprint), or plan it; the first step of any run."""
    started = time.time()
    out_dir = Path(out_dir)
    fingerprint = job_fingerprint(inputs, model_id, cfg)
    done = out_dir / "summary.json"
    complete = done.exists()
    if complete:
        summary = read_json(done)
        check_fingerprint(summary, fingerprint, done)
        log.info("translate: job %s is already complete", summary["job_id"])
        shards, sentences, shared, pending = summary["shards"], summary["sentences"], 0, []
    else:
        plan = plan_job(inputs, cfg, out_dir, fingerprint)
        shards, sentences, shared = plan["shards"], plan["sentences"], plan["shared"]
        pending = [k for k in range(shards) if not shard_done(out_dir, k)]
    return TranslateJob(
        out_dir=out_dir,
        model_id=model_id,
        shards=shards,
        sentences=sentences,
        shared=shared,
        pending=pending,
        complete=complete,
        started=started,
    )


def finish_job(job: TranslateJob, cfg: TranslateConfig) -> dict:
    """Finalize a job whose shards are all done (a complete one is read back); its summary with timings."""
    skipped = job.shards - len(job.pending)
    if job.complete:
        return {**read_json(job.out_dir / "summary.json"), "shards_skipped": skipped, "seconds": 0.0}
    summary = finalize_job(job.out_dir, job.model_id, cfg)
    seconds = time.time() - job.started
    if summary["errors"]:
        log.warning("translate: %d input(s) failed: %s", summary["errors"], summary["errors_by_reason"])
    log.info("translate: %d sentences in %.1f s -> %s", summary["sentences"], seconds, job.out_dir)
    return {
        **summary,
        "shards_skipped": skipped,
        "seconds": round(seconds, 3),
        "sentences_per_second": round(summary["sentences"] / max(seconds, 1e-9), 2),
    }


def finalize_job(out_dir: Path, model_id: str, cfg: TranslateConfig) -> dict:
    """Concatenate the shards' tables in shard order, write summary.json, remove the shards and plan."""
    out_dir = Path(out_dir)
    plan = read_json(out_dir / "plan" / "plan.json")
    job_id = cfg.job_id or out_dir.name
    shards = [read_json(shard_dir(out_dir, k) / MARKER) for k in range(plan["shards"])]
    shared = read_json(shared_dir(out_dir) / MARKER)["sentences"]
    meta = {"nmt.job_id": job_id, "nmt.model_id": model_id}
    for name, schema in TABLES.items():
        with (
            atomic_path(out_dir / f"{name}.parquet") as tmp,
            pq.ParquetWriter(tmp, with_metadata(schema, meta), compression="zstd") as writer,
        ):
            for k in range(plan["shards"]):
                writer.write_table(pq.read_table(shard_dir(out_dir, k) / f"{name}.parquet"))
    reasons: Counter[str] = Counter()
    for s in shards:
        reasons.update(s["errors_by_reason"])
    summary = {
        "job_id": job_id,
        "model_id": model_id,
        "fingerprint": plan["fingerprint"],
        "beam": cfg.decode.beam,
        "shards": plan["shards"],
        **{
            key: sum(s[key] for s in shards)
            for key in (
                "documents",
                "documents_failed",
                "sentences",
                "src_tokens",
                "tgt_tokens",
                "errors",
            )
        },
        "unique_sentences": plan["unique_sentences"],
        "shared_sentences": shared,
        "decoded_sentences": shared + sum(s["decoded_sentences"] for s in shards),
        "errors_by_reason": dict(sorted(reasons.items())),
        "out_dir": str(out_dir),
    }
    join_parts(out_dir / "docs")
    write_json(out_dir / "summary.json", summary)
    shutil.rmtree(out_dir / "shards", ignore_errors=True)
    shutil.rmtree(out_dir / "plan", ignore_errors=True)
    remove_temporaries(out_dir)
    return summary

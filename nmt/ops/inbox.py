"""Inbox translation: documents dropped into a folder are translated once each with the current model.

    <inbox>/<name>                        new documents (top level only)
    <inbox>/processing/<batch>/<name>     claimed by one run: moved there with os.rename
    <inbox>/done/<name>                   inputs that were translated
    <inbox>/failed/<name>                 inputs that could not be, with <name>.reason.txt beside them
    <outbox>/<name>                       the translated documents (default outbox: <inbox>/../outbox)
    <outbox>/jobs/<batch>/                the batch's job: docs/, translations/alignments/errors tables,
                                          summary.json, model.json (the model the batch was translated with)

A file is claimed by renaming it into the run's own processing folder: a rename is atomic, so of
two runs that try to take the same file one wins and the other gets FileNotFoundError and skips
it; no file is translated twice, however many runs overlap. A file is taken only once it has not
been modified for `settle_seconds` and its size and modification time did not change between
listing and claiming, so a file still being written stays in the inbox. Writers that can should
write to a hidden name (".name") or a name ending .tmp/.part and rename it when complete.
Hidden and temporary names are never taken. A later file with the same name replaces the earlier
one's translation and done/ or failed/ entry (the tables of every batch stay under jobs/).

A run interrupted after claiming leaves its files in processing/<batch>; running the same batch
again (a Prefect retry of the same flow run) resumes with those files and the same model, and the
translation job skips its finished shards; moved back into the inbox, they are claimed afresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from nmt.core.atomic import atomic_path, read_json, write_json, write_text
from nmt.model.search import DECODE_DEFAULTS
from nmt.ops.registry import Registry, parse_pair
from nmt.translate.config import TranslateConfig
from nmt.translate.job import run_translate

log = logging.getLogger(__name__)

PROCESSING, DONE, FAILED = "processing", "done", "failed"
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
REASON_SUFFIX = ".reason.txt"
# Errors that leave the rest of a document translated: the input still counts as done.
PARTIAL_REASONS = frozenset({"sentence_too_long"})


class InboxConfig(BaseModel):
    """Where the inbox and outbox are, which pair's current model translates, and how."""

    model_config = ConfigDict(extra="forbid")

    inbox: Path = Field(Path("data/inbox"), description="folder new documents are dropped into")
    outbox: Path | None = Field(None, description="translated documents; default <inbox>/../outbox")
    pair: str = Field("en-xx", description="language pair SRC-TGT; its current model translates")
    registry: Path | None = Field(None, description="model registry; default $NMT_REGISTRY or data/registry")
    settle_seconds: float = Field(30.0, ge=0, description="take files unmodified for this long")
    max_files: int | None = Field(None, gt=0, description="claim at most this many files per run")
    translate: TranslateConfig = Field(default_factory=lambda: TranslateConfig(progress=False))

    def model_post_init(self, context: Any) -> None:
        parse_pair(self.pair)

    @classmethod
    def from_options(
        cls, beam: int = DECODE_DEFAULTS.beam, device: str = "auto", **options: Any
    ) -> InboxConfig:
        """The config from flat options (CLI and flow parameters): beam and device set the translation."""
        return cls(**options, translate=TranslateConfig(beam=beam, device=device, progress=False))

    def outbox_dir(self) -> Path:
        """The outbox: `outbox`, or a folder "outbox" beside the inbox."""
        return self.outbox or self.inbox.parent / "outbox"

    def batch_dir(self, batch: str) -> Path:
        """The processing folder holding one run's claimed files."""
        return self.inbox / PROCESSING / batch

    def job_dir(self, batch: str) -> Path:
        """The translation job folder of one batch."""
        return self.outbox_dir() / "jobs" / batch


def new_batch_id() -> str:
    """A fresh batch id: UTC time plus a random suffix."""
    return f"{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def _candidates(inbox: Path) -> list[Path]:
    """Top-level regular files of the inbox that are neither hidden nor temporary, sorted by name."""
    if not inbox.is_dir():
        return []
    return sorted(
        Path(e.path)
        for e in os.scandir(inbox)
        if e.is_file(follow_symlinks=False)
        and not e.name.startswith(".")
        and not e.name.endswith(TEMPORARY_SUFFIXES)
    )


def claim(cfg: InboxConfig, batch: str) -> list[Path]:
    """Move settled inbox files into processing/<batch>; return the claimed paths.

    A batch folder that already holds files (the same batch run again) is resumed: its files are
    returned and nothing new is claimed, so the batch's translation job keeps the same inputs.
    """
    batch_dir = cfg.batch_dir(batch)
    if batch_dir.is_dir() and (held := sorted(p for p in batch_dir.iterdir() if p.is_file())):
        log.info("inbox: batch %s resumes with %d claimed file(s)", batch, len(held))
        return held
    now = time.time()
    listed = []
    for path in _candidates(cfg.inbox):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if now - st.st_mtime < cfg.settle_seconds:
            log.info("inbox: %s was modified %.0f s ago; left to settle", path.name, now - st.st_mtime)
            continue
        listed.append((path, (st.st_size, st.st_mtime_ns)))
    claimed: list[Path] = []
    for path, seen in listed:
        if cfg.max_files is not None and len(claimed) >= cfg.max_files:
            break
        try:
            st = path.stat()
            if (st.st_size, st.st_mtime_ns) != seen:
                log.info("inbox: %s is still changing; left for a later run", path.name)
                continue
            batch_dir.mkdir(parents=True, exist_ok=True)
            os.rename(path, batch_dir / path.name)
        except FileNotFoundError:
            continue  # another run claimed it first
        claimed.append(batch_dir / path.name)
    log.info("inbox: batch %s claimed %d file(s) from %s", batch, len(claimed), cfg.inbox)
    return claimed


def check_model(cfg: InboxConfig) -> Path:
    """The folder of the pair's current model; LookupError when the pair has none."""
    return Registry.open(cfg.registry).current_dir(cfg.pair)


def translate_batch(cfg: InboxConfig, batch: str, files: list[Path]) -> dict[str, Any]:
    """Translate a batch's claimed files with the model the batch started with (else the current one)."""
    job_dir = cfg.job_dir(batch)
    if (job_dir / "summary.json").exists():  # finished before; some inputs may be filed already
        return read_json(job_dir / "summary.json")
    pinned = job_dir / "model.json"
    if pinned.exists():
        model_id = read_json(pinned)["model_id"]
    else:
        model_id = check_model(cfg).name
        write_json(pinned, {"model_id": model_id, "pair": cfg.pair})
    log.info("inbox: translating %d file(s) of batch %s with %s", len(files), batch, model_id)
    return run_translate(files, Registry.open(cfg.registry).model_dir(model_id), cfg.translate, job_dir)


def _reason_text(problems: list[dict[str, Any]]) -> str:
    lines = []
    for p in problems:
        where = f" (line {p['line']})" if p.get("line") is not None else ""
        lines.append(f"{p['reason']}: {p['detail']}{where}\n")
    return "".join(lines)


def file_results(cfg: InboxConfig, batch: str, files: list[Path]) -> dict[str, Any]:
    """Copy each translated document to the outbox; move each input to done/ or failed/ (+ reason)."""
    job_dir, outbox = cfg.job_dir(batch), cfg.outbox_dir()
    errors = pq.read_table(job_dir / "errors.parquet").to_pylist()
    rows = Counter(pq.read_table(job_dir / "translations.parquet", columns=["doc_id"])["doc_id"].to_pylist())
    results = []
    for path in files:
        name = path.name
        if not path.exists():
            log.warning("inbox: %s is no longer in %s; skipped", name, path.parent)
            continue
        sentences = sum(n for doc, n in rows.items() if doc == name or doc.startswith(f"{name}#"))
        problems = [e for e in errors if e["doc_id"] == name and e["reason"] not in PARTIAL_REASONS]
        translated, published = job_dir / "docs" / name, outbox / name
        if not problems and not translated.exists():
            problems = [{"reason": "no_output", "detail": "the translation job wrote no document"}]
        if problems:
            write_text(cfg.inbox / FAILED / f"{name}{REASON_SUFFIX}", _reason_text(problems))
        else:
            with atomic_path(published) as tmp:  # a copy: the batch keeps its own under jobs/
                shutil.copyfile(translated, tmp)
        status = FAILED if problems else DONE
        (cfg.inbox / status).mkdir(parents=True, exist_ok=True)
        os.replace(path, cfg.inbox / status / name)
        result = {"name": name, "status": status, "sentences": sentences}
        result.update({"reason": problems[0]["reason"]} if problems else {"output": str(published)})
        results.append(result)
        log.log(
            logging.WARNING if problems else logging.INFO,
            "inbox: %s -> %s (%s)",
            name,
            status,
            _reason_text(problems).strip() if problems else f"{sentences} sentences",
        )
    batch_dir = cfg.batch_dir(batch)
    if batch_dir.is_dir() and not any(batch_dir.iterdir()):
        batch_dir.rmdir()
    return summarize(cfg, batch, results, read_json(job_dir / "model.json")["model_id"])


def summarize(
    cfg: InboxConfig, batch: str, results: list[dict[str, Any]], model_id: str | None
) -> dict[str, Any]:
    """The batch's summary: per-file results, counts, and how many files still wait in the inbox."""
    return {
        "batch": batch,
        "pair": cfg.pair,
        "model_id": model_id,
        "inbox": str(cfg.inbox),
        "outbox": str(cfg.outbox_dir()),
        "job_dir": str(cfg.job_dir(batch)) if results else None,
        "files": results,
        "done": sum(r["status"] == DONE for r in results),
        "failed": sum(r["status"] == FAILED for r in results),
        "sentences": sum(r["sentences"] for r in results),
        "waiting": len(_candidates(cfg.inbox)),
    }


def run_inbox(cfg: InboxConfig, batch: str | None = None) -> dict[str, Any]:
    """Claim settled files, translate them with the current model, file inputs and outputs."""
    batch = batch or new_batch_id()
    check_model(cfg)
    files = claim(cfg, batch)
    if not files:
        return summarize(cfg, batch, [], None)
    translate_batch(cfg, batch, files)
    return file_results(cfg, batch, files)

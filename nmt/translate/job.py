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

A job is planned once (inputs listed in a fixed order and cut into shards of about
`shard_bytes` of input; a document is never split, a table is cut between records), then
`translate_shared` translates the sentences found in two or more shards, then each shard is
translated by `translate_shard` -- the unit of work a scheduler may run anywhere, in any order
-- and `finalize_job` concatenates the shards' tables, joins the table slices and removes plan/
and shards/. `start_job` (plan, or find the job complete) and `finish_job` (finalize, time) are
the first and last steps of both ways to run a job: `translate_job` runs the shared step and the
shards in order in this process, the Prefect flow runs them as tasks, the shared one first
(nmt/translate/worker.py). Every file is written atomically and a step is skipped once its _SUCCESS
marker exists, so a job killed at any moment and run again ends with the same bytes as an
uninterrupted run: each step decodes the same sentences in the same batches (with the same torch
thread count: CPU kernels sum in a thread-count-dependent order, so set `threads` where bytes
must match across runs).

Identical sentences are translated once per job. Planning keeps the first shard of each distinct
sentence, keyed by an 8-byte digest of its text (70 to 130 bytes of memory per distinct sentence,
measured, plus the text of each shared one); a sentence that turns up again in a later shard is
shared. The shared step decodes all shared sentences, in fixed chunks, before any shard runs; a
shard reads back the shared results of its own sentences only (matched by text, so a digest
collision costs a repeated decoding, never a wrong row) and decodes the rest, each distinct one
once. Every sentence is thus decoded by one fixed step whatever order the shards run in, and a
shard's output does not depend on which other shards this process happened to run.

Sentences longer than `max_sentence_chars` (a 1 MB line with no sentence break) stay
untranslated in the output document and get an ERRORS row; they have no TRANSLATIONS row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from nmt.align import links
from nmt.core.atomic import (
    atomic_path,
    file_sha256,
    read_json,
    write_bytes,
    write_json,
    write_parquet,
    write_text,
)
from nmt.core.device import resolve_device
from nmt.core.rundir import RunDir
from nmt.core.schema import ALIGNMENTS, ERRORS, TRANSLATIONS, with_metadata
from nmt.core.vocab import EOS, EOS_PIECE, PAD
from nmt.model.checkpoint import load_model
from nmt.model.search import Hypothesis, beam_search, greedy, length_limit
from nmt.text.documents import (
    SUFFIXES,
    TABLE_KINDS,
    DocumentError,
    Part,
    Record,
    Sentence,
    Source,
    iter_records,
    iter_sources,
    parse,
    parse_text,
    read_parquet_rows,
    read_text,
    render,
    sentences_of,
)
from nmt.text.tokenization import Tokenizer

log = logging.getLogger(__name__)

MARKER = "_SUCCESS"


class TranslateConfig(BaseModel):
    """Settings of a translation job."""

    model_config = ConfigDict(extra="forbid")

    beam: int = Field(1, ge=1, description="beam size; 1 is greedy search")
    alpha: float = Field(0.6, ge=0.0, description="GNMT length penalty exponent (beam search)")
    max_len_a: float = Field(1.5, ge=0.0, description="output limit: a * source tokens + b")
    max_len_b: int = Field(10, ge=0, description="output limit: a * source tokens + b")
    batch_tokens: int = Field(
        4000, gt=0, description="padded source tokens per batch, beams counted (rows x length)"
    )
    device: str = Field("cpu", description='torch device; "auto": CUDA when present, else CPU')
    threads: int | None = Field(
        None, gt=0, description="torch CPU threads (set for the whole process); None: torch's default"
    )
    shard_bytes: int = Field(
        250_000, gt=0, description="input bytes per shard (about 2-3k sentences); documents are never split"
    )
    max_sentence_chars: int = Field(
        2000, gt=0, description="longer sentences are kept untranslated and reported as errors"
    )
    id_column: str = Field("id", description="JSONL/Parquet inputs: the record id column")
    text_column: str = Field("text", description="JSONL/Parquet inputs: the text column")
    job_id: str | None = Field(None, description="default: the output folder's name")
    progress: bool = Field(True, description="show a tqdm progress bar")


@dataclass
class Result:
    """The translation of one sentence."""

    source: str
    translation: str
    score: float  # log-probability of the best hypothesis (EOS included)
    src_ids: list[int]  # source pieces, no EOS
    tgt_ids: list[int]  # target pieces, no EOS
    attention: np.ndarray  # float32 [len(tgt_ids)+1, len(src_ids)+1]
    nbest: list[tuple[str, float]] = field(default_factory=list)  # (translation, log-prob), best first


class Translator:
    """A model and its tokenizer, translating lists of sentences in token-budget batches."""

    def __init__(self, model, tokenizer, model_id: str, device: str | torch.device = "cpu"):
        self.device = resolve_device(str(device))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.checkpoint: Path | None = None

    @classmethod
    def load(cls, model_dir: Path, device: str | torch.device = "cpu") -> Translator:
        """Load <run>/train/checkpoints/best.pt (else last.pt) and <run>/tokenize."""
        ckpt = find_checkpoint(model_dir)
        model, meta = load_model(ckpt, resolve_device(str(device)))
        tokenizer = Tokenizer.load(RunDir(model_dir).tokenize)
        expected = meta.get("tokenizer_sha256")
        if expected and expected != tokenizer.sha256:
            raise ValueError(f"{ckpt} was trained with tokenizer {expected}, not {tokenizer.sha256}")
        translator = cls(model, tokenizer, checkpoint_id(ckpt), device)
        translator.checkpoint = ckpt
        return translator

    def translate(
        self,
        sentences: list[str],
        beam: int = 1,
        batch_tokens: int = 4000,
        alpha: float = 0.6,
        n_best: int = 1,
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        progress: Callable[[int], Any] | None = None,
        known: Mapping[str, Result] | None = None,
    ) -> list[Result]:
        """Translate sentences (distinct ones once, none in `known`) in length-sorted batches; order kept."""
        counts = Counter(sentences)
        done = {s: known[s] for s in counts if s in known} if known else {}
        if progress is not None and done:
            progress(sum(counts[s] for s in done))
        unique = [s for s in counts if s not in done]
        ids = self.tokenizer.encode_src(unique)
        for batch in token_batches([len(x) + 1 for x in ids], batch_tokens // beam):
            decoded = self._decode([ids[i] for i in batch], beam, alpha, n_best, max_len_a, max_len_b)
            for i, res in zip(batch, decoded, strict=True):
                res.source = unique[i]
                done[unique[i]] = res
            if progress is not None:
                progress(sum(counts[unique[i]] for i in batch))
        return [done[s] for s in sentences]

    def _decode(self, ids, beam, alpha, n_best, max_len_a, max_len_b) -> list[Result]:
        lengths = torch.tensor([len(x) + 1 for x in ids])  # [B] with EOS
        src = torch.full((len(ids), int(lengths.max())), PAD, dtype=torch.long)  # [B,S]
        for row, x in enumerate(ids):
            src[row, : len(x)] = torch.tensor(x, dtype=torch.long)
            src[row, len(x)] = EOS
        src, lengths = src.to(self.device), lengths.to(self.device)
        limit = length_limit(lengths, max_len_a, max_len_b)  # [B]
        if beam == 1 and n_best == 1:
            hyps = greedy(self.model, src, lengths, limit)
        else:
            hyps = beam_search(self.model, src, lengths, beam, limit, alpha, n_best)
        texts = self.tokenizer.decode_tgt([h.tokens for nb in hyps for h in nb])
        out, k = [], 0
        for x, nb in zip(ids, hyps, strict=True):
            best: Hypothesis = nb[0]
            nbest = [(texts[k + j], h.logprob) for j, h in enumerate(nb)]
            out.append(Result("", texts[k], best.logprob, list(x), best.tokens, best.attention, nbest))
            k += len(nb)
        return out


def find_checkpoint(model_dir: Path) -> Path:
    """The checkpoint Translator.load reads: <run>/train/checkpoints/best.pt, else last.pt."""
    folder = RunDir(model_dir).train / "checkpoints"
    for name in ("best.pt", "last.pt"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: no best.pt or last.pt")


def checkpoint_id(ckpt: Path) -> str:
    """The model id of <run>/train/checkpoints/<file>: <run name>/<file>@<first 12 hex digits of sha256>."""
    return f"{ckpt.parents[2].name}/{ckpt.name}@{file_sha256(ckpt)[:12]}"


def token_batches(lengths: list[int], budget: int) -> Iterator[list[int]]:
    """Indices sorted by length (stable) cut into batches of at most `budget` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) + 1) * lengths[i] > budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def run_translate(inputs: list[Path], model_dir: Path, cfg: TranslateConfig, out_dir: Path) -> dict:
    """Translate documents with the model of run directory `model_dir` into `out_dir`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    translator = Translator.load(Path(model_dir), cfg.device)
    return translate_job(inputs, translator, cfg, out_dir)


def translate_job(
    inputs: list[str | Path], translator: Translator, cfg: TranslateConfig, out_dir: Path
) -> dict:
    """Plan, translate the shared sentences, then each unfinished shard, finalize; the job's summary."""
    job = start_job(inputs, translator.model_id, cfg, out_dir)
    if not job.complete:
        name = cfg.job_id or job.out_dir.name
        off = not cfg.progress
        with tqdm(total=job.shared, unit="sent", desc=f"shared {name}", disable=off or not job.shared) as bar:
            translate_shared(job.out_dir, translator, cfg, progress=bar.update)
        with tqdm(total=job.sentences, unit="sent", desc=f"translate {name}", disable=off) as bar:
            for shard in range(job.shards):
                translate_shard(job.out_dir, shard, translator, cfg, progress=bar.update)
    return finish_job(job, cfg)


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
        _check_fingerprint(summary, fingerprint, done)
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


def job_fingerprint(inputs: list[str | Path], model_id: str, cfg: TranslateConfig) -> str:
    """Digest of everything that decides a job's output bytes."""
    settings = cfg.model_dump(exclude={"progress"})
    blob = json.dumps([[str(x) for x in inputs], model_id, settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _check_fingerprint(found: dict, fingerprint: str, path: Path) -> None:
    if found.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} belongs to a job with other inputs, model or settings; "
            "write to a new output folder or delete this one"
        )


def plan_job(inputs: list[str | Path], cfg: TranslateConfig, out_dir: Path, fingerprint: str) -> dict:
    """List the inputs into shard files under out_dir/plan (once; a rerun reads the plan back).

    A plan line is a JSON object: doc_id, path, kind, and for a slice of a table "range"
    [start, stop, first line] (see nmt.text.documents.Record), or for an input that cannot be read
    at all "error" [reason, detail]. Documents are never split; tables are cut between records.
    plan/shared.jsonl lists, one JSON string a line, the sentences found in two or more shards.
    """
    plan_dir = Path(out_dir) / "plan"
    meta_path = plan_dir / "plan.json"
    if meta_path.exists():
        meta = read_json(meta_path)
        _check_fingerprint(meta, fingerprint, meta_path)
        return meta
    plan = _Plan(plan_dir, cfg.shard_bytes)
    seen: set[str] = set()
    for source in iter_sources(inputs):
        entry: dict[str, Any] = {"doc_id": source.doc_id, "path": source.path, "kind": source.kind}
        error = _source_error(source, source.doc_id in seen)
        seen.add(source.doc_id)
        if error is not None:
            plan.add({**entry, "error": [error.reason, error.detail]}, 0, [], 1)
        elif source.kind in TABLE_KINDS:
            _plan_table(plan, entry, cfg)
        else:
            parts, _ = _load_document(source.path, source.kind, cfg.max_sentence_chars)
            plan.add(entry, _size(source.path), [s.text for s in sentences_of(parts)], 1)
    plan.flush()
    write_text(
        plan_dir / "shared.jsonl", "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in plan.shared)
    )
    meta = {
        "fingerprint": fingerprint,
        "shards": len(plan.counts),
        "documents": plan.documents,
        "sentences": sum(plan.counts),
        "unique_sentences": len(plan.first_shard),
        "shared": len(plan.shared),
        "shard_sentences": plan.counts,
    }
    write_json(meta_path, meta)
    log.info(
        "translate: planned %d documents, %d sentences (%d distinct, %d in two or more shards), %d shards",
        plan.documents,
        meta["sentences"],
        meta["unique_sentences"],
        meta["shared"],
        meta["shards"],
    )
    return meta


_SHARED = -1  # _Plan.first_shard's value for a sentence found in two or more shards


def _sentence_key(text: str) -> int:
    """The 8-byte blake2b digest of a sentence as an int: planning tells sentences apart in little memory."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class _Plan:
    """Plan lines cut into shard files of about `shard_bytes` of input each; the sentences shards share."""

    def __init__(self, plan_dir: Path, shard_bytes: int):
        self.plan_dir, self.shard_bytes = plan_dir, shard_bytes
        self.counts: list[int] = []
        self.lines: list[str] = []
        self.size = self.sentences = self.documents = 0
        self.first_shard: dict[int, int] = {}  # _sentence_key -> first shard holding it, or _SHARED
        self.shared: list[str] = []  # sentences of two or more shards, in the order they became so

    def add(self, entry: dict, size: int, texts: list[str], documents: int) -> None:
        self.lines.append(json.dumps(entry, ensure_ascii=False))
        self._note(texts)
        self.size += size
        self.documents += documents
        if self.size >= self.shard_bytes:
            self.flush()

    def _note(self, texts: list[str]) -> None:
        """Count the sentences of the shard being filled; mark those an earlier shard holds as shared."""
        shard = len(self.counts)  # shards are flushed as they fill: this is the one being filled
        for text in texts:
            key = _sentence_key(text)
            first = self.first_shard.setdefault(key, shard)
            if first not in (shard, _SHARED):
                self.first_shard[key] = _SHARED
                self.shared.append(text)
        self.sentences += len(texts)

    def flush(self) -> None:
        if not self.lines:
            return
        write_text(
            self.plan_dir / f"shard-{len(self.counts):05d}.jsonl", "".join(x + "\n" for x in self.lines)
        )
        self.counts.append(self.sentences)
        self.lines, self.size, self.sentences = [], 0, 0


def _plan_table(plan: _Plan, entry: dict, cfg: TranslateConfig) -> None:
    """Add a table's records to the plan as ranges, cut where the shard is full."""
    start = first = None
    size = records = 0
    texts: list[str] = []  # the sentences of the range being gathered
    try:
        for rec in iter_records(entry["path"], entry["kind"], cfg.id_column, cfg.text_column):
            if start is None:
                start, first = rec.start, rec.line
            size += rec.stop - rec.start if entry["kind"] == "jsonl" else len(rec.text or "")
            records += rec.key is not None or rec.error is not None
            if rec.text is not None:
                parts = parse_text(rec.text)
                _limit_sentences(parts, cfg.max_sentence_chars)
                texts += [s.text for s in sentences_of(parts)]
            if plan.size + size >= plan.shard_bytes:
                plan.add({**entry, "range": [start, rec.stop, first]}, size, texts, records)
                start, size, texts, records = None, 0, [], 0
    except DocumentError as exc:
        plan.add({**entry, "error": [exc.reason, exc.detail]}, 0, [], 1)
        return
    if start is not None:
        plan.add({**entry, "range": [start, rec.stop, first]}, size, texts, records)
    elif first is None:
        plan.add({**entry, "error": ["empty", "no records"]}, 0, [], 1)


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _source_error(source: Source, duplicate: bool) -> DocumentError | None:
    """Why an input cannot be a document at all, known before reading it."""
    if source.kind == "missing":
        return DocumentError("missing", f"no such file or folder: {source.path}")
    if source.kind == "unsupported":
        suffix = Path(source.path).suffix
        return DocumentError("unsupported_format", f"suffix {suffix!r} is not one of {sorted(SUFFIXES)}")
    if duplicate:
        return DocumentError("duplicate_doc_id", f"another input is also {source.doc_id}")
    return None


def _load_document(path: str, kind: str, max_chars: int) -> tuple[list[Part], list[DocumentError]]:
    """Parse one text or Markdown document: its parts and its errors."""
    try:
        parts = parse(read_text(path), kind)
    except DocumentError as exc:
        return [], [exc]
    return parts, _limit_sentences(parts, max_chars)


def _limit_sentences(parts: list[Part], max_chars: int) -> list[DocumentError]:
    """Turn sentences longer than max_chars into verbatim text (in place); one error each."""
    errors = []
    for k, part in enumerate(parts):
        if isinstance(part, Sentence) and len(part.text) > max_chars:
            detail = (
                f"paragraph {part.paragraph} sentence {part.sentence}: {len(part.text)} characters "
                f"(> {max_chars}); kept untranslated"
            )
            errors.append(DocumentError("sentence_too_long", detail, part.line))
            parts[k] = part.text
    return errors


def shard_done(out_dir: Path, shard: int) -> bool:
    """Whether shard `shard` of the job in out_dir is complete."""
    return (_shard_dir(out_dir, shard) / MARKER).exists()


def _shard_dir(out_dir: Path, shard: int) -> Path:
    return Path(out_dir) / "shards" / f"{shard:05d}"


def _shared_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "shards" / "shared"


def _decoding(cfg: TranslateConfig) -> dict[str, Any]:
    """Translator.translate's settings of a job: the same for the shared step and every shard."""
    return {
        "beam": cfg.beam,
        "batch_tokens": cfg.batch_tokens,
        "alpha": cfg.alpha,
        "max_len_a": cfg.max_len_a,
        "max_len_b": cfg.max_len_b,
    }


SHARED_CHUNK = 4096  # shared sentences translated together, in length-sorted batches
SHARED_ROWS = 512  # rows per row group of the shared results: a shard reads only groups it needs


def translate_shared(
    out_dir: Path,
    translator: Translator,
    cfg: TranslateConfig,
    progress: Callable[[int], Any] | None = None,
) -> dict:
    """Translate the sentences of two or more shards once, before any shard: results, then marker."""
    out_dir = Path(out_dir)
    folder = _shared_dir(out_dir)
    if (folder / MARKER).exists():
        summary = read_json(folder / MARKER)
        if progress is not None:
            progress(summary["sentences"])
        return summary
    lines = (out_dir / "plan" / "shared.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line) for line in lines]
    with (
        atomic_path(folder / "results.parquet") as tmp,
        pq.ParquetWriter(tmp, _RESULTS, compression="zstd") as writer,
    ):
        for lo in range(0, len(texts), SHARED_CHUNK):  # fixed chunks: the same batches on every run
            chunk = texts[lo : lo + SHARED_CHUNK]
            results = translator.translate(chunk, **_decoding(cfg), progress=progress)
            writer.write_table(_results_table(results), row_group_size=SHARED_ROWS)
    summary = {"sentences": len(texts)}
    write_json(folder / MARKER, summary)
    return summary


_RESULTS = pa.schema(  # the shared step's Results, one row per sentence
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("translation", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("src_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("tgt_ids", pa.list_(pa.int32()), nullable=False),
        # Row-major [len(tgt_ids)+1, len(src_ids)+1]: the shape follows from the ids.
        pa.field("attention", pa.list_(pa.float32()), nullable=False),
        pa.field(
            "nbest",
            pa.list_(pa.struct([("translation", pa.string()), ("logprob", pa.float64())])),
            nullable=False,
        ),
    ]
)


def _results_table(results: list[Result]) -> pa.Table:
    cols = {
        "source": [r.source for r in results],
        "translation": [r.translation for r in results],
        "score": [r.score for r in results],
        "src_ids": [r.src_ids for r in results],
        "tgt_ids": [r.tgt_ids for r in results],
        "attention": [r.attention.reshape(-1) for r in results],  # [T+1,S+1] -> [(T+1)*(S+1)]
        "nbest": [[{"translation": t, "logprob": lp} for t, lp in r.nbest] for r in results],
    }
    return pa.table(cols, schema=_RESULTS)


def _shared_results(out_dir: Path, texts: list[str]) -> dict[str, Result]:
    """The shared step's Results of those of `texts` it translated, by source (only these are read)."""
    folder = _shared_dir(out_dir)
    if not (folder / MARKER).exists():
        raise RuntimeError(
            f"{folder}: the shared sentences are not translated yet; run translate_shared first"
        )
    if not read_json(folder / MARKER)["sentences"]:
        return {}
    return _results_of(_rows_of(folder / "results.parquet", texts))


def _rows_of(path: Path, texts: list[str]) -> pa.Table:
    """The rows of the shared results whose source is one of `texts`; a row group with none is not decoded."""
    file = pq.ParquetFile(path)
    wanted = pa.array(list(set(texts)), pa.string())
    parts = [file.schema_arrow.empty_table()]
    for group in range(file.num_row_groups):
        mask = pc.is_in(file.read_row_group(group, columns=["source"]).column(0), value_set=wanted)
        if pc.any(mask).as_py():
            parts.append(file.read_row_group(group).filter(mask))
    return pa.concat_tables(parts)


def _results_of(table: pa.Table) -> dict[str, Result]:
    """Results back from rows of the shared results, by source."""
    attention = table.column("attention").combine_chunks()
    values, offsets = attention.values.to_numpy(), attention.offsets.to_numpy()  # [sum (T+1)*(S+1)], [N+1]
    out = {}
    for row, lo, hi in zip(table.drop_columns(["attention"]).to_pylist(), offsets, offsets[1:], strict=False):
        shape = (len(row["tgt_ids"]) + 1, len(row["src_ids"]) + 1)
        nbest = [(x["translation"], x["logprob"]) for x in row["nbest"]]
        out[row["source"]] = Result(
            row["source"],
            row["translation"],
            row["score"],
            row["src_ids"],
            row["tgt_ids"],
            values[lo:hi].reshape(shape),  # [T+1,S+1]
            nbest,
        )
    return out


@dataclass
class _Entry:
    """One plan line read back: its documents (doc id, parts) and, for a table, its records."""

    entry: dict
    docs: list[tuple[str, list[Part]]] = field(default_factory=list)
    records: list[tuple[Record, int | None]] = field(default_factory=list)  # (record, index in docs)
    documents: int = 0


def _read_entry(entry: dict, cfg: TranslateConfig, errors: list) -> _Entry:
    """Load the documents of one plan line, appending (doc_id, error) pairs to `errors`."""
    out = _Entry(entry)
    doc_id = entry["doc_id"]
    if "error" in entry:
        errors.append((doc_id, DocumentError(*entry["error"])))
        out.documents = 1
        return out
    if "range" not in entry:
        parts, problems = _load_document(entry["path"], entry["kind"], cfg.max_sentence_chars)
        errors += [(doc_id, e) for e in problems]
        out.documents = 1
        if parts:
            out.docs.append((doc_id, parts))
        return out
    start, stop, first = entry["range"]
    try:
        records = iter_records(
            entry["path"], entry["kind"], cfg.id_column, cfg.text_column, start, stop, first
        )
        for rec in records:
            out.documents += rec.key is not None or rec.error is not None
            if rec.error is not None:
                errors.append((f"{doc_id}#{rec.key or rec.line}", rec.error))
            index = None
            if rec.text is not None:
                parts = parse_text(rec.text)
                errors += [
                    (f"{doc_id}#{rec.key}", e) for e in _limit_sentences(parts, cfg.max_sentence_chars)
                ]
                index = len(out.docs)
                out.docs.append((f"{doc_id}#{rec.key}", parts))
            out.records.append((rec, index))
    except DocumentError as exc:  # the table disappeared or changed since it was planned
        errors.append((doc_id, exc))
        out.docs, out.records = [], []
    return out


def translate_shard(
    out_dir: Path,
    shard: int,
    translator: Translator,
    cfg: TranslateConfig,
    progress: Callable[[int], Any] | None = None,
) -> dict:
    """Translate shard `shard` of a planned job (after translate_shared): documents, three tables, marker."""
    out_dir = Path(out_dir)
    shard_dir = _shard_dir(out_dir, shard)
    if (shard_dir / MARKER).exists():
        summary = read_json(shard_dir / MARKER)
        if progress is not None:
            progress(summary["sentences"])
        return summary
    job_id = cfg.job_id or out_dir.name
    lines = (out_dir / "plan" / f"shard-{shard:05d}.jsonl").read_text(encoding="utf-8").splitlines()
    errors: list[tuple[str, DocumentError]] = []
    entries = [_read_entry(json.loads(line), cfg, errors) for line in lines]
    items = [(doc_id, s) for e in entries for doc_id, parts in e.docs for s in sentences_of(parts)]
    texts = [s.text for _, s in items]
    shared = _shared_results(out_dir, texts)
    results = translator.translate(texts, **_decoding(cfg), progress=progress, known=shared)
    k = 0
    for e in entries:
        rendered = []
        for _, parts in e.docs:
            n = len(sentences_of(parts))
            chosen = {
                (s.paragraph, s.sentence): r.translation
                for (_, s), r in zip(items[k : k + n], results[k : k + n], strict=True)
            }
            rendered.append(render(parts, chosen))
            k += n
        _write_output(out_dir, shard, e, rendered, cfg)
    meta = {"nmt.job_id": job_id, "nmt.model_id": translator.model_id}
    write_parquet(
        shard_dir / "translations.parquet", _translations(items, results, job_id, translator.model_id, meta)
    )
    _write_alignments(shard_dir / "alignments.parquet", items, results, job_id, translator.tokenizer, meta)
    write_parquet(shard_dir / "errors.parquet", _errors(errors, job_id, meta))
    failed_docs = {doc_id for doc_id, e in errors if e.reason != "sentence_too_long"}
    summary = {
        "shard": shard,
        "documents": sum(e.documents for e in entries),
        "documents_failed": len(failed_docs),
        "sentences": len(items),
        "decoded_sentences": len(set(texts) - shared.keys()),
        "errors": len(errors),
        "errors_by_reason": dict(Counter(e.reason for _, e in errors)),
        "src_tokens": sum(len(r.src_ids) for r in results),
        "tgt_tokens": sum(len(r.tgt_ids) for r in results),
    }
    write_json(shard_dir / MARKER, summary)
    return summary


PARTS = ".parts"  # docs/<table>.parts/<shard>: one shard's slice of a translated table


def _write_output(out_dir: Path, shard: int, e: _Entry, rendered: list[str], cfg: TranslateConfig) -> None:
    """Write a translated document, or a table's slice as a part file finalize_job joins."""
    target = out_dir / "docs" / e.entry["doc_id"]
    if "range" not in e.entry:
        for _, text in zip(e.docs, rendered, strict=True):
            write_text(target, text)
        return
    if not e.records:
        return
    part = target.with_name(target.name + PARTS) / f"{shard:05d}"
    if e.entry["kind"] == "jsonl":
        lines = []
        with open(e.entry["path"], "rb") as fh:
            for rec, index in e.records:
                fh.seek(rec.start)
                raw = fh.read(rec.stop - rec.start)
                if index is None:
                    lines.append(raw)
                    continue
                obj = json.loads(raw)
                obj[cfg.text_column] = rendered[index]
                lines.append(json.dumps(obj, ensure_ascii=False).encode() + b"\n")
        write_bytes(part, b"".join(lines))
        return
    start, stop, _ = e.entry["range"]
    table = read_parquet_rows(e.entry["path"], start, stop)
    column = table.schema.get_field_index(cfg.text_column)
    texts = table.column(column).to_pylist()
    for rec, index in e.records:
        if index is not None:
            texts[rec.start - start] = rendered[index]
    table = table.set_column(column, pa.field(cfg.text_column, pa.string()), pa.array(texts, pa.string()))
    write_parquet(part, table)


def _join_parts(docs_dir: Path) -> None:
    """Join the part files of each translated table in shard order, then remove them."""
    for folder in sorted(docs_dir.rglob("*" + PARTS)):
        parts = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        target = folder.with_name(folder.name.removesuffix(PARTS))
        if target.suffix.lower() == ".parquet":
            schema = pq.read_schema(parts[0])
            with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for p in parts:
                    writer.write_table(pq.read_table(p))
        else:
            with atomic_path(target) as tmp, open(tmp, "wb") as out:
                for p in parts:
                    out.write(p.read_bytes())
        shutil.rmtree(folder)


def _translations(items, results, job_id, model_id, meta) -> pa.Table:
    keys = _keys(items, job_id)
    cols = {
        **keys,
        "source": [s.text for _, s in items],
        "translation": [r.translation for r in results],
        "score": pa.array([r.score for r in results], pa.float32()),
        "model_id": [model_id] * len(items),
    }
    return pa.table(cols, schema=with_metadata(TRANSLATIONS, meta))


def _write_alignments(path: Path, items, results, job_id, tokenizer, meta, rows: int = 2048) -> None:
    """Write the ALIGNMENTS rows of a shard in slices, so only one slice's matrices are copied at a time."""
    schema = with_metadata(ALIGNMENTS, meta)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for lo in range(0, max(len(items), 1), rows):
            part_items, part_results = items[lo : lo + rows], results[lo : lo + rows]
            writer.write_table(_alignments(part_items, part_results, job_id, tokenizer, schema))


def _alignments(items, results, job_id, tokenizer, schema) -> pa.Table:
    src_tokens, tgt_tokens, subword, word, offsets = [], [], [], [], [0]
    for r in results:
        src = tokenizer.src_pieces(r.src_ids)
        tgt = tokenizer.tgt_pieces(r.tgt_ids)
        hard = links.hard_links(r.attention)
        src_tokens.append([*src, EOS_PIECE])
        tgt_tokens.append([*tgt, EOS_PIECE])
        subword.append(links.pharaoh(hard))
        word.append(links.pharaoh(links.merge_links(hard, src, tgt)))
        offsets.append(offsets[-1] + r.attention.size)
    values = np.empty(offsets[-1], np.float32)
    for r, lo, hi in zip(results, offsets, offsets[1:], strict=False):
        values[lo:hi] = r.attention.reshape(-1)  # row-major [T+1,S+1]
    attention = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.float32()))
    cols = {
        **_keys(items, job_id),
        "src_tokens": src_tokens,
        "tgt_tokens": tgt_tokens,
        "src_len": pa.array([len(x) for x in src_tokens], pa.int32()),
        "tgt_len": pa.array([len(x) for x in tgt_tokens], pa.int32()),
        "attention": attention,
        "subword_links": subword,
        "word_links": word,
    }
    return pa.table(cols, schema=schema)


def _keys(items, job_id) -> dict[str, Any]:
    return {
        "job_id": [job_id] * len(items),
        "doc_id": [doc_id for doc_id, _ in items],
        "paragraph": pa.array([s.paragraph for _, s in items], pa.int32()),
        "sentence": pa.array([s.sentence for _, s in items], pa.int32()),
    }


def _errors(errors, job_id, meta) -> pa.Table:
    cols = {
        "job_id": [job_id] * len(errors),
        "doc_id": [doc_id for doc_id, _ in errors],
        "line": pa.array([e.line for _, e in errors], pa.int64()),
        "reason": [e.reason for _, e in errors],
        "detail": [e.detail for _, e in errors],
    }
    return pa.table(cols, schema=with_metadata(ERRORS, meta))


TABLES = {"translations": TRANSLATIONS, "alignments": ALIGNMENTS, "errors": ERRORS}


def finalize_job(out_dir: Path, model_id: str, cfg: TranslateConfig) -> dict:
    """Concatenate the shards' tables in shard order, write summary.json, remove the shards and plan."""
    out_dir = Path(out_dir)
    plan = read_json(out_dir / "plan" / "plan.json")
    job_id = cfg.job_id or out_dir.name
    shards = [read_json(_shard_dir(out_dir, k) / MARKER) for k in range(plan["shards"])]
    shared = read_json(_shared_dir(out_dir) / MARKER)["sentences"]
    meta = {"nmt.job_id": job_id, "nmt.model_id": model_id}
    for name, schema in TABLES.items():
        with (
            atomic_path(out_dir / f"{name}.parquet") as tmp,
            pq.ParquetWriter(tmp, with_metadata(schema, meta), compression="zstd") as writer,
        ):
            for k in range(plan["shards"]):
                writer.write_table(pq.read_table(_shard_dir(out_dir, k) / f"{name}.parquet"))
    reasons: Counter[str] = Counter()
    for s in shards:
        reasons.update(s["errors_by_reason"])
    summary = {
        "job_id": job_id,
        "model_id": model_id,
        "fingerprint": plan["fingerprint"],
        "beam": cfg.beam,
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
    _join_parts(out_dir / "docs")
    write_json(out_dir / "summary.json", summary)
    shutil.rmtree(out_dir / "shards", ignore_errors=True)
    shutil.rmtree(out_dir / "plan", ignore_errors=True)
    for stale in out_dir.rglob(".*.tmp"):  # left by writes a crash interrupted
        stale.unlink(missing_ok=True)
    return summary

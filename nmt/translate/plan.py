"""Planning a translation job: inputs listed in a fixed order and cut into shard files under <out>/plan.

Inputs are cut into shards of about `shard_bytes` of input; a document is never split, a table is
cut between records. Identical sentences are translated once per job: planning keeps the first
shard of each distinct sentence, keyed by an 8-byte digest of its text (70 to 130 bytes of memory
per distinct sentence, measured, plus the text of each shared one); a sentence that turns up again
in a later shard is shared, and listed in plan/shared.jsonl for the shared step (nmt.translate.shard).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from nmt.core.atomic import read_json, write_json, write_text
from nmt.text.documents import (
    SUFFIXES,
    TABLE_KINDS,
    DocumentError,
    InputDocument,
    Part,
    Sentence,
    iter_inputs,
    iter_records,
    parse,
    parse_text,
    read_text,
    sentences_of,
)
from nmt.translate.config import TranslateConfig

log = logging.getLogger(__name__)


def job_fingerprint(inputs: list[str | Path], model_id: str, cfg: TranslateConfig) -> str:
    """Digest of everything that decides a job's output bytes."""
    settings = cfg.model_dump(exclude={"progress"})
    blob = json.dumps([[str(x) for x in inputs], model_id, settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def check_fingerprint(found: dict, fingerprint: str, path: Path) -> None:
    """Raise unless `found` (a plan or summary read from `path`) carries this job's fingerprint."""
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
        check_fingerprint(meta, fingerprint, meta_path)
        return meta
    plan = _PlanWriter(plan_dir, cfg.shard_bytes)
    seen: set[str] = set()
    for source in iter_inputs(inputs):
        entry: dict[str, Any] = {"doc_id": source.doc_id, "path": source.path, "kind": source.kind}
        error = _input_error(source, source.doc_id in seen)
        seen.add(source.doc_id)
        if error is not None:
            plan.add({**entry, "error": [error.reason, error.detail]}, 0, [], 1)
        elif source.kind in TABLE_KINDS:
            _plan_table(plan, entry, cfg)
        else:
            parts, _ = load_document(source.path, source.kind, cfg.max_sentence_chars, cfg.source_lang)
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


_SHARED = -1  # _PlanWriter.first_shard's value for a sentence found in two or more shards


def _sentence_key(text: str) -> int:
    """The 8-byte blake2b digest of a sentence as an int: planning tells sentences apart in little memory."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class _PlanWriter:
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


def _plan_table(plan: _PlanWriter, entry: dict, cfg: TranslateConfig) -> None:
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
                parts = parse_text(rec.text, cfg.source_lang)
                limit_sentences(parts, cfg.max_sentence_chars)
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


def _input_error(source: InputDocument, duplicate: bool) -> DocumentError | None:
    """Why an input cannot be a document at all, known before reading it."""
    if source.kind == "missing":
        return DocumentError("missing", f"no such file or folder: {source.path}")
    if source.kind == "link_outside":
        return DocumentError("link_outside", f"{source.path} resolves outside the folder given; not read")
    if source.kind == "unsupported":
        suffix = Path(source.path).suffix
        return DocumentError("unsupported_format", f"suffix {suffix!r} is not one of {sorted(SUFFIXES)}")
    if duplicate:
        return DocumentError("duplicate_doc_id", f"another input is also {source.doc_id}")
    return None


def load_document(
    path: str, kind: str, max_chars: int, lang: str | None = None
) -> tuple[list[Part], list[DocumentError]]:
    """Parse one text or Markdown document in language `lang`: its parts and its errors."""
    try:
        parts = parse(read_text(path), kind, lang)
    except DocumentError as exc:
        return [], [exc]
    return parts, limit_sentences(parts, max_chars)


def limit_sentences(parts: list[Part], max_chars: int) -> list[DocumentError]:
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

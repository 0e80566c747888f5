"""Running a planned translation job: the shared step, then shards, each the unit of work a scheduler
may run anywhere, in any order.

The shared step decodes all shared sentences (plan/shared.jsonl), in fixed chunks, before any
shard runs; a shard reads back the shared results of its own sentences only (matched by text, so
a digest collision costs a repeated decoding, never a wrong row) and decodes the rest, each
distinct one once. Every sentence is thus decoded by one fixed step whatever order the shards run
in, and a shard's output does not depend on which other shards this process happened to run.
A step writes its _SUCCESS marker last and is skipped once the marker exists.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nmt.align.given import translation_links
from nmt.core.atomic import atomic_path, read_json, write_bytes, write_json, write_parquet, write_text
from nmt.core.schema import RESULTS
from nmt.text.documents import (
    DocumentError,
    Part,
    Record,
    iter_records,
    parse_text,
    read_parquet_rows,
    render,
    sentences_of,
)
from nmt.translate.config import TranslateConfig
from nmt.translate.plan import limit_sentences, load_document
from nmt.translate.tables import (
    errors_table,
    read_results,
    results_of,
    results_table,
    translations_table,
    write_alignments,
)
from nmt.translate.translator import Result, Translator

MARKER = "_SUCCESS"


def shard_done(out_dir: Path, shard: int) -> bool:
    """Whether shard `shard` of the job in out_dir is complete."""
    return (shard_dir(out_dir, shard) / MARKER).exists()


def shard_dir(out_dir: Path, shard: int) -> Path:
    """The folder of shard `shard`'s outputs."""
    return Path(out_dir) / "shards" / f"{shard:05d}"


def shared_dir(out_dir: Path) -> Path:
    """The folder of the shared step's results."""
    return Path(out_dir) / "shards" / "shared"


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
    folder = shared_dir(out_dir)
    if (folder / MARKER).exists():
        summary = read_json(folder / MARKER)
        if progress is not None:
            progress(summary["sentences"])
        return summary
    lines = (out_dir / "plan" / "shared.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line) for line in lines]
    with (
        atomic_path(folder / "results.parquet") as tmp,
        pq.ParquetWriter(tmp, RESULTS, compression="zstd") as writer,
    ):
        for lo in range(0, len(texts), SHARED_CHUNK):  # fixed chunks: the same batches on every run
            chunk = texts[lo : lo + SHARED_CHUNK]
            results = translator.translate(chunk, cfg.decode, progress=progress)
            writer.write_table(results_table(results), row_group_size=SHARED_ROWS)
    summary = {"sentences": len(texts)}
    write_json(folder / MARKER, summary)
    return summary


def _shared_results(out_dir: Path, texts: list[str]) -> dict[str, Result]:
    """The shared step's Results of those of `texts` it translated, by source (only these are read)."""
    folder = shared_dir(out_dir)
    if not (folder / MARKER).exists():
        raise RuntimeError(
            f"{folder}: the shared sentences are not translated yet; run translate_shared first"
        )
    if not read_json(folder / MARKER)["sentences"]:
        return {}
    return results_of(read_results(folder / "results.parquet", texts))


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
        parts, problems = load_document(entry["path"], entry["kind"], cfg.max_sentence_chars, cfg.source_lang)
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
                parts = parse_text(rec.text, cfg.source_lang)
                errors += [(f"{doc_id}#{rec.key}", e) for e in limit_sentences(parts, cfg.max_sentence_chars)]
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
    folder = shard_dir(out_dir, shard)
    if (folder / MARKER).exists():
        summary = read_json(folder / MARKER)
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
    results = translator.translate(texts, cfg.decode, progress=progress, known=shared)
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
        write_output(out_dir, shard, e, rendered, cfg)
    meta = {"nmt.job_id": job_id, "nmt.model_id": translator.model_id}
    write_parquet(
        folder / "translations.parquet", translations_table(items, results, job_id, translator.model_id, meta)
    )
    aligner = translator.model_dir if cfg.statistical_links else None  # None: the column stays null
    statistical = translation_links(aligner, texts, [r.translation for r in results])
    tokenizer = translator.tokenizer
    write_alignments(folder / "alignments.parquet", items, results, statistical, job_id, tokenizer, meta)
    write_parquet(folder / "errors.parquet", errors_table(errors, job_id, meta))
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
    write_json(folder / MARKER, summary)
    return summary


PARTS = ".parts"  # docs/<table>.parts/<shard>: one shard's slice of a translated table


def write_output(out_dir: Path, shard: int, e: _Entry, rendered: list[str], cfg: TranslateConfig) -> None:
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


def join_parts(docs_dir: Path) -> None:
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

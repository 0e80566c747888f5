"""The Arrow tables a translation job writes: RESULTS (the shared step's decodings, read back by
shards), and per shard TRANSLATIONS, ALIGNMENTS and ERRORS (schemas in nmt.core.schema)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nmt.align import links
from nmt.core.atomic import atomic_path
from nmt.core.schema import ALIGNMENTS, ERRORS, RESULTS, TRANSLATIONS, with_metadata
from nmt.core.vocab import EOS_PIECE
from nmt.translate.translator import Result


def results_table(results: list[Result]) -> pa.Table:
    """RESULTS rows of Results, for the shared step."""
    cols = {
        "source": [r.source for r in results],
        "translation": [r.translation for r in results],
        "score": [r.score for r in results],
        "src_ids": [r.src_ids for r in results],
        "tgt_ids": [r.tgt_ids for r in results],
        "attention": [r.attention.reshape(-1) for r in results],  # [T+1,S+1] -> [(T+1)*(S+1)]
        "nbest": [[{"translation": t, "logprob": lp} for t, lp in r.nbest] for r in results],
        "head": [None if r.head is None else r.head.reshape(-1) for r in results],  # as attention
    }
    return pa.table(cols, schema=RESULTS)


def read_results(path: Path, texts: list[str]) -> pa.Table:
    """The rows of a RESULTS file whose source is one of `texts`; a row group with none is not decoded."""
    file = pq.ParquetFile(path)
    wanted = pa.array(list(set(texts)), pa.string())
    parts = [file.schema_arrow.empty_table()]
    for group in range(file.num_row_groups):
        mask = pc.is_in(file.read_row_group(group, columns=["source"]).column(0), value_set=wanted)
        if pc.any(mask).as_py():
            parts.append(file.read_row_group(group).filter(mask))
    return pa.concat_tables(parts)


def results_of(table: pa.Table) -> dict[str, Result]:
    """Results back from RESULTS rows, by source."""
    attention = table.column("attention").combine_chunks()
    values, offsets = attention.values.to_numpy(), attention.offsets.to_numpy()  # [sum (T+1)*(S+1)], [N+1]
    out = {}
    for row, lo, hi in zip(table.drop_columns(["attention"]).to_pylist(), offsets, offsets[1:], strict=False):
        shape = (len(row["tgt_ids"]) + 1, len(row["src_ids"]) + 1)
        nbest = [(x["translation"], x["logprob"]) for x in row["nbest"]]
        head = None if row.get("head") is None else np.asarray(row["head"], np.float32).reshape(shape)
        out[row["source"]] = Result(
            row["source"],
            row["translation"],
            row["score"],
            row["src_ids"],
            row["tgt_ids"],
            values[lo:hi].reshape(shape),  # [T+1,S+1]
            nbest,
            head,
        )
    return out


def translations_table(items, results, job_id, model_id, meta) -> pa.Table:
    """TRANSLATIONS rows of a shard's sentences (items: (doc_id, Sentence)) and their Results."""
    keys = _keys(items, job_id)
    cols = {
        **keys,
        "source": [s.text for _, s in items],
        "translation": [r.translation for r in results],
        "score": pa.array([r.score for r in results], pa.float32()),
        "model_id": [model_id] * len(items),
    }
    return pa.table(cols, schema=with_metadata(TRANSLATIONS, meta))


def write_alignments(
    path: Path, items, results, statistical, job_id, tokenizer, meta, rows: int = 2048
) -> None:
    """Write the ALIGNMENTS rows of a shard in slices, so only one slice's matrices are copied at a time.

    `statistical`: per sentence (source words, translation words, statistical links or None), from
    nmt.align.given.translation_links.
    """
    schema = with_metadata(ALIGNMENTS, meta)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for lo in range(0, max(len(items), 1), rows):
            part = slice(lo, lo + rows)
            table = _alignments(items[part], results[part], statistical[part], job_id, tokenizer, schema)
            writer.write_table(table)


def _alignments(items, results, statistical, job_id, tokenizer, schema) -> pa.Table:
    src_tokens, tgt_tokens, subword, word, head, offsets = [], [], [], [], [], [0]
    for r in results:
        src = tokenizer.src_pieces(r.src_ids)
        tgt = tokenizer.tgt_pieces(r.tgt_ids)
        hard = links.hard_links(r.attention)
        src_tokens.append([*src, EOS_PIECE])
        tgt_tokens.append([*tgt, EOS_PIECE])
        subword.append(links.pharaoh(hard))
        word.append(links.pharaoh(links.merge_links(hard, src, tgt)))
        head_words = None if r.head is None else links.merge_links(links.hard_links(r.head), src, tgt)
        head.append(None if head_words is None else links.pharaoh(head_words))
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
        "src_words": [s for s, _, _ in statistical],
        "tgt_words": [t for _, t, _ in statistical],
        "statistical_links": [x for _, _, x in statistical],
        "head_links": head,
    }
    return pa.table(cols, schema=schema)


def _keys(items, job_id) -> dict[str, Any]:
    return {
        "job_id": [job_id] * len(items),
        "doc_id": [doc_id for doc_id, _ in items],
        "paragraph": pa.array([s.paragraph for _, s in items], pa.int32()),
        "sentence": pa.array([s.sentence for _, s in items], pa.int32()),
    }


def errors_table(errors, job_id, meta) -> pa.Table:
    """ERRORS rows of (doc_id, DocumentError) pairs."""
    cols = {
        "job_id": [job_id] * len(errors),
        "doc_id": [doc_id for doc_id, _ in errors],
        "line": pa.array([e.line for _, e in errors], pa.int64()),
        "reason": [e.reason for _, e in errors],
        "detail": [e.detail for _, e in errors],
    }
    return pa.table(cols, schema=with_metadata(ERRORS, meta))


TABLES = {"translations": TRANSLATIONS, "alignments": ALIGNMENTS, "errors": ERRORS}

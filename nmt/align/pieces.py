"""Which sentencepiece pieces make up each aligner word: the map guided alignment needs.

The statistical links join words (nmt.align.words); the model attends over pieces. Every word of
a pair's side gets the range [first, end) of the pieces whose character offsets (sentencepiece's
`offset_mapping`, over the raw text) overlap its character span. Pieces are contiguous and
ordered, so a word's pieces are one range; a piece shared by two words ("▁l'" of `l ' homme`)
lies in both ranges, and a piece covering no word character (a lone "▁") in none.

<run>/align/pieces.parquet   ALIGN_PIECES, one row per pair of the aligned split: per side the
                             flat ranges [first_0, end_0, first_1, end_1, ...], one pair per word.

The pieces are encoded afresh from the pairs table with the run's models; a pair whose piece
count differs from its row of <run>/tokenize/<split>.parquet (it cannot happen with the same
models, but the check is cheap) gets empty ranges and so no guidance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sentencepiece as spm

from nmt.align.corpus import split_batches
from nmt.align.words import word_spans
from nmt.core.atomic import atomic_path
from nmt.core.cores import usable_cores
from nmt.core.schema import ALIGN_PIECES

log = logging.getLogger(__name__)

Span = tuple[int, int]


def word_piece_ranges(offsets: Sequence[Span], spans: Sequence[Span]) -> np.ndarray:
    """[words, 2] int: (first, end) of the pieces whose offsets overlap each word's span."""
    if not spans:
        return np.zeros((0, 2), dtype=np.int64)
    piece = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)  # [P,2]
    word = np.asarray(spans, dtype=np.int64)  # [W,2]
    first = np.searchsorted(piece[:, 1], word[:, 0], side="right")  # first piece ending after the start
    end = np.searchsorted(piece[:, 0], word[:, 1], side="left")  # pieces beginning before the end
    return np.stack([first, np.maximum(end, first)], axis=1)  # [W,2]


def side_ranges(sp: spm.SentencePieceProcessor, texts: list[str]) -> list[tuple[int, np.ndarray]]:
    """(piece count, word ranges [words, 2]) of each text."""
    encoded = sp.encode(texts, out_type="offset_mapping", num_threads=usable_cores())
    return [
        (len(e["ids"]), word_piece_ranges(e["offsets"], word_spans(t)))
        for e, t in zip(encoded, texts, strict=True)
    ]


def token_lengths(tokens: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids sorted, their source lengths, target lengths) of a TOKENS file."""
    table = pq.read_table(tokens, columns=["id", "src_len", "tgt_len"])
    ids = table.column("id").to_numpy()
    order = np.argsort(ids, kind="stable")
    return ids[order], table.column("src_len").to_numpy()[order], table.column("tgt_len").to_numpy()[order]


def write_piece_map(
    pairs: Path,
    split: str,
    tokens: Path,
    src_sp: spm.SentencePieceProcessor,
    tgt_sp: spm.SentencePieceProcessor,
    out: Path,
) -> dict[str, int]:
    """Write ALIGN_PIECES of a split's pairs to `out`; return counts (pairs, mismatched)."""
    ids_sorted, src_lens, tgt_lens = token_lengths(tokens)
    if not len(ids_sorted):
        raise ValueError(f"{tokens} has no rows: nothing to map")
    counts = {"pairs": 0, "mismatched": 0}
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, ALIGN_PIECES, compression="zstd") as writer:
        for batch in split_batches(pairs, split):
            ids = batch.column("id").to_numpy()
            src = side_ranges(src_sp, batch.column("src").to_pylist())
            tgt = side_ranges(tgt_sp, batch.column("tgt").to_pylist())
            at = np.minimum(np.searchsorted(ids_sorted, ids), len(ids_sorted) - 1)  # [n] row of each id
            ok = (
                (ids_sorted[at] == ids)
                & (src_lens[at] == np.array([n for n, _ in src]))
                & (tgt_lens[at] == np.array([n for n, _ in tgt]))
            )
            columns = {"id": ids}
            for name, side in (("src_pieces", src), ("tgt_pieces", tgt)):
                columns[name] = pa.array(
                    [r.reshape(-1).tolist() if good else [] for (_, r), good in zip(side, ok, strict=True)],
                    pa.list_(pa.int16()),
                )
            writer.write_table(pa.table(columns, schema=ALIGN_PIECES))
            counts["pairs"] += len(ids)
            counts["mismatched"] += int((~ok).sum())
    if counts["mismatched"]:
        log.warning("align: %d pairs differ from %s: no guidance for them", counts["mismatched"], tokens)
    return counts

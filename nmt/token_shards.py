"""Encode the pairs table into TOKENS Parquet files, one per split, streaming and bounded in memory.

Layout: `<out_dir>/<split>.parquet`, one file per split whose row groups hold exactly
`row_group_rows` rows (the last one fewer). A row group is the shard: readers stream it with
`pyarrow.parquet.ParquetFile.iter_batches` or read it with `read_row_group`. Rows keep the order
of the pairs table. Memory holds one input batch plus less than one row group per split.

Length columns are int16 and saturate at 32767 (`MAX_LEN`); the id lists always hold every
piece, so a saturated length means "at least 32767" and is counted in the statistics.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sentencepiece as spm

from nmt.atomic import atomic_path
from nmt.schema import TOKENS, with_metadata

log = logging.getLogger(__name__)

MAX_LEN = np.iinfo(np.int16).max
QUANTILES = (0.5, 0.9, 0.95, 0.99)
SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Input rows per pipeline chunk of write_token_shards (independent of the row-group size).
ENCODE_ROWS = 8192


@dataclass(frozen=True)
class Sampling:
    """Subword sampling: unigram samples the lattice, BPE drops merges (BPE-dropout).

    The draws are random, not reproducible: sentencepiece 0.2's sampler differs between
    processes even after `set_random_generator_seed`, and that seed is process-wide and cannot
    be unset (it would make every later sampled call in the process repeat the same draws), so
    this project never sets it.
    """

    alpha: float
    nbest_size: int


def encode_ids(
    sp: spm.SentencePieceProcessor, texts: list[str], threads: int, sampling: Sampling | None = None
) -> pa.ListArray:
    """Encode `texts` with sentencepiece's multi-threaded batch encoder into a list<int32> array."""
    return _to_list_array(_encode(sp, texts, threads, sampling))


def _lengths16(ids: pa.ListArray) -> tuple[np.ndarray, pa.Array]:
    """Exact lengths (int64) and the int16 column saturated at MAX_LEN."""
    exact = pc.list_value_length(ids).to_numpy(zero_copy_only=False).astype(np.int64)
    return exact, pa.array(np.minimum(exact, MAX_LEN).astype(np.int16))


@dataclass
class LengthStats:
    """Exact length histograms of one split, cheap to keep whatever the corpus size."""

    src: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEN + 1, dtype=np.int64))
    tgt: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEN + 1, dtype=np.int64))
    rows: int = 0
    src_tokens: int = 0
    tgt_tokens: int = 0
    over_limit: int = 0
    saturated: int = 0

    def add(self, src_len: np.ndarray, tgt_len: np.ndarray, limit: int) -> None:
        """Count one batch of exact lengths."""
        self.rows += len(src_len)
        self.src_tokens += int(src_len.sum())
        self.tgt_tokens += int(tgt_len.sum())
        self.over_limit += int(((src_len > limit) | (tgt_len > limit)).sum())
        self.saturated += int(((src_len > MAX_LEN) | (tgt_len > MAX_LEN)).sum())
        self.src += np.bincount(np.minimum(src_len, MAX_LEN), minlength=MAX_LEN + 1)
        self.tgt += np.bincount(np.minimum(tgt_len, MAX_LEN), minlength=MAX_LEN + 1)

    def summary(self, limit: int) -> dict:
        """Counts, quantiles and the share of pairs over `limit` pieces on either side."""
        return {
            "rows": self.rows,
            "src_tokens": self.src_tokens,
            "tgt_tokens": self.tgt_tokens,
            "src_len": _histogram_summary(self.src),
            "tgt_len": _histogram_summary(self.tgt),
            "empty_src": int(self.src[0]),
            "empty_tgt": int(self.tgt[0]),
            "length_limit": limit,
            "over_limit": self.over_limit,
            "share_over_limit": self.over_limit / self.rows if self.rows else 0.0,
            "saturated_len": self.saturated,
        }


def _histogram_summary(hist: np.ndarray) -> dict:
    n = int(hist.sum())
    if n == 0:
        return {"mean": 0.0, "max": 0, **{f"p{round(q * 100)}": 0 for q in QUANTILES}}
    cum = np.cumsum(hist)
    values = np.arange(len(hist))
    out = {"mean": float((hist * values).sum() / n), "max": int(values[hist > 0][-1])}
    for q in QUANTILES:
        # The smallest length with at least a q share of the rows at or below it.
        out[f"p{round(q * 100)}"] = int(np.searchsorted(cum, q * n))
    return out


class _SplitWriter:
    """Buffers one split's rows and writes them as row groups of exactly `rows` rows."""

    def __init__(self, path: Path, schema: pa.Schema, rows: int) -> None:
        self.writer = pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=True)
        self.schema = schema
        self.rows = rows
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def add(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.rows:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        table = pa.concat_tables(self.pending)
        full = table.num_rows if final else table.num_rows - table.num_rows % self.rows
        if full:
            self.writer.write_table(table.slice(0, full), row_group_size=self.rows)
        rest = table.slice(full)
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows = rest.num_rows

    def finish(self) -> None:
        if self.pending_rows:
            self._flush(final=True)


def _encode(
    sp: spm.SentencePieceProcessor, texts: list[str], threads: int, sampling: Sampling | None
) -> list[list[int]]:
    """sentencepiece's multi-threaded batch encode (it releases the GIL while it encodes)."""
    if sampling is None:
        return sp.encode(texts, num_threads=threads)
    return sp.encode(
        texts,
        num_threads=threads,
        enable_sampling=True,
        alpha=sampling.alpha,
        nbest_size=sampling.nbest_size,
    )


def _to_list_array(ids: list[list[int]]) -> pa.ListArray:
    """A list<int32> array from Python id lists: one flat int32 buffer plus offsets."""
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("a single batch holds more than 2**31 tokens; lower row_group_rows")
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat))


def write_token_shards(
    pairs_path: Path,
    out_dir: Path,
    encoders: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
    *,
    file_name: Callable[[str], str],
    metadata: dict[str, str],
    row_group_rows: int,
    threads: int,
    length_limit: int,
    splits: set[str] | None = None,
    sampling: Sampling | None = None,
) -> dict[str, dict]:
    """Encode every split (or only `splits`) of the pairs table into TOKENS files; per-split stats.

    A three-step pipeline over chunks of `ENCODE_ROWS` input rows: while one background thread
    encodes chunk i+1 (sentencepiece, GIL released) and another writes chunk i-1 (Parquet,
    GIL released), this thread reads the next chunk and turns chunk i into Arrow columns. At most
    one chunk waits at each step, so memory stays bounded. Row groups and row order do not
    depend on the chunking (each split's rows are buffered into row groups of exactly
    `row_group_rows`), and the files are the same bytes as those of the earlier serial loop
    (checked on Tatoeba en-fr, one split and three interleaved splits, several row-group sizes).
    """
    src_sp, tgt_sp = encoders
    pairs = pq.ParquetFile(pairs_path)
    total_rows = pairs.metadata.num_rows
    schema = with_metadata(TOKENS, metadata)
    stats: dict[str, LengthStats] = {}
    writers: dict[str, _SplitWriter] = {}
    started = last_log = time.perf_counter()
    done = 0

    def encode(src: list[str], tgt: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        if src_sp is tgt_sp:  # joint model: one call, one thread start and one tail, not two
            both = _encode(src_sp, src + tgt, threads, sampling)
            return both[: len(src)], both[len(src) :]
        return _encode(src_sp, src, threads, sampling), _encode(tgt_sp, tgt, threads, sampling)

    def convert(split: str, ids: pa.Array, encoded: Future) -> pa.Table:
        src_ids, tgt_ids = (_to_list_array(x) for x in encoded.result())
        src_exact, src_len = _lengths16(src_ids)
        tgt_exact, tgt_len = _lengths16(tgt_ids)
        stats[split].add(src_exact, tgt_exact, length_limit)
        return pa.Table.from_arrays([ids, src_ids, tgt_ids, src_len, tgt_len], schema=schema)

    with contextlib.ExitStack() as stack:
        # Entered after the ExitStack: on the way out the threads finish before files close.
        with ThreadPoolExecutor(1, "encode") as encoder, ThreadPoolExecutor(1, "write") as writer:
            queued: tuple[str, pa.Array, Future] | None = None  # being encoded
            written: Future | None = None  # being written
            columns = ["id", "split", "src", "tgt"]
            batch_rows = min(row_group_rows, ENCODE_ROWS)
            for batch in pairs.iter_batches(batch_size=batch_rows, columns=columns):
                names = pc.unique(batch.column("split")).to_pylist()
                for split in names:
                    if splits is not None and split not in splits:
                        continue
                    if split not in writers:
                        if not SPLIT_NAME.match(split):
                            raise ValueError(f"split name {split!r} cannot be a file name")
                        tmp = stack.enter_context(atomic_path(out_dir / file_name(split)))
                        writers[split] = _SplitWriter(tmp, schema, row_group_rows)
                        stack.callback(writers[split].writer.close)
                        stats[split] = LengthStats()
                    part = (  # filtering copies the text: skip it when the chunk is one split
                        batch if len(names) == 1 else batch.filter(pc.equal(batch.column("split"), split))
                    )
                    src, tgt = part.column("src").to_pylist(), part.column("tgt").to_pylist()
                    following = (split, part.column("id"), encoder.submit(encode, src, tgt))
                    if queued is not None:
                        table = convert(*queued)
                        if written is not None:
                            written.result()
                        written = writer.submit(writers[queued[0]].add, table)
                    queued = following
                done += batch.num_rows
                now = time.perf_counter()
                if now - last_log > 10 or done == total_rows:
                    rate = done / max(now - started, 1e-9)
                    log.info(
                        "encoded %d/%d pairs (%.0f pairs/s, ETA %.0f s)",
                        done,
                        total_rows,
                        rate,
                        (total_rows - done) / rate,
                    )
                    last_log = now
            if queued is not None:
                table = convert(*queued)
                if written is not None:
                    written.result()
                written = writer.submit(writers[queued[0]].add, table)
            if written is not None:
                written.result()
        for split_writer in writers.values():
            split_writer.finish()
    return {split: s.summary(length_limit) for split, s in sorted(stats.items())}

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
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sentencepiece as spm

from nmt.core.cluster import Pending, dask_client, in_order, worker_threads
from nmt.core.row_groups import RowGroupWriter
from nmt.core.schema import TOKENS, with_metadata

log = logging.getLogger(__name__)

MAX_LEN = np.iinfo(np.int16).max
QUANTILES = (0.5, 0.9, 0.95, 0.99)
SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Most input rows per encoder task of write_token_shards (independent of the row-group size).
ENCODE_ROWS = 4096
# Dictionary-encoded columns: token ids and lengths repeat; row ids never do (smaller and faster).
DICTIONARY = ["src_ids.list.element", "tgt_ids.list.element", "src_len", "tgt_len"]


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
        for hist, lengths in ((self.src, src_len), (self.tgt, tgt_len)):
            counts = np.bincount(np.minimum(lengths, MAX_LEN))  # [max length in batch + 1]
            hist[: len(counts)] += counts

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


def _encode(sp: spm.SentencePieceProcessor, texts: list[str], sampling: Sampling | None) -> list:
    """Encode on this thread into one int32 buffer per text, never building Python ints.

    This is the C++ call behind sentencepiece's public `encode(out_type="numpy")` (GIL released
    while it encodes); the public call then wraps each buffer in its own numpy array, which costs
    more than the encoding saves. tests/test_tokenization.py checks the ids equal `encode`'s.
    """
    sample = sampling is not None
    nbest, alpha = (sampling.nbest_size, sampling.alpha) if sample else (-1, 0.0)
    return sp._processor._EncodeAsBufferBatch(texts, 1, None, sample, nbest, alpha, False, False, False)


def _to_list_array(buffers: list) -> tuple[pa.ListArray, np.ndarray]:
    """A list<int32> array from per-text int32 buffers (one flat buffer plus offsets), and the lengths."""
    lengths = np.fromiter(map(len, map(memoryview, buffers)), dtype=np.int64, count=len(buffers))
    offsets = np.zeros(len(buffers) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("a single chunk holds more than 2**31 tokens; lower ENCODE_ROWS")
    flat = np.frombuffer(b"".join(buffers), dtype=np.int32)  # [sum(lengths)]
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat)), lengths


@dataclass
class _Chunk:
    """One split's rows of one input batch, encoded: the TOKENS table and the exact lengths."""

    split: str
    table: pa.Table
    src_len: np.ndarray  # [rows] int64
    tgt_len: np.ndarray  # [rows] int64


def _encode_chunk(
    split: str,
    batch: pa.RecordBatch,
    encoders: tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor],
    schema: pa.Schema,
    sampling: Sampling | None,
) -> _Chunk:
    """Encode one chunk's two sides and build its TOKENS table."""
    src, tgt = batch.column("src").to_pylist(), batch.column("tgt").to_pylist()
    src_sp, tgt_sp = encoders
    if src_sp is tgt_sp:  # joint model: one call
        both = _encode(src_sp, src + tgt, sampling)
        src_ids, tgt_ids = both[: len(src)], both[len(src) :]
    else:
        src_ids, tgt_ids = _encode(src_sp, src, sampling), _encode(tgt_sp, tgt, sampling)
    (src_arr, src_exact), (tgt_arr, tgt_exact) = _to_list_array(src_ids), _to_list_array(tgt_ids)
    src_len, tgt_len = (pa.array(np.minimum(x, MAX_LEN).astype(np.int16)) for x in (src_exact, tgt_exact))
    table = pa.Table.from_arrays([batch.column("id"), src_arr, tgt_arr, src_len, tgt_len], schema=schema)
    return _Chunk(split, table, src_exact, tgt_exact)


def _split_batches(
    pairs: pq.ParquetFile, splits: set[str] | None, rows: int
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """(split, its rows) for each split present in each `rows`-row input batch."""
    for batch in pairs.iter_batches(batch_size=rows, columns=["id", "split", "src", "tgt"]):
        names = pc.unique(batch.column("split")).to_pylist()
        for split in names:
            if splits is not None and split not in splits:
                continue
            part = (  # filtering copies the text: skip it when the batch is one split
                batch if len(names) == 1 else batch.filter(pc.equal(batch.column("split"), split))
            )
            yield split, part


Encoders = tuple[spm.SentencePieceProcessor, spm.SentencePieceProcessor]


@contextlib.contextmanager
def _encoding_pool(
    cluster: str | None, threads: int, encoders: Encoders, schema: pa.Schema, sampling: Sampling | None
) -> Iterator[tuple[Callable[[tuple[str, pa.RecordBatch]], Pending[_Chunk]], int]]:
    """A function submitting one (split, rows) chunk for encoding, and how many chunks encode at once.

    Chunks encode on `threads` threads of this process, or on the workers of the Dask scheduler
    at `cluster`, each of which is sent the models once.
    """
    if cluster is None:
        workers = max(threads, 1)
        with ThreadPoolExecutor(workers, "encode") as pool:
            yield lambda chunk: pool.submit(_encode_chunk, *chunk, encoders, schema, sampling), workers
        return
    with dask_client(cluster) as client:
        [sent] = client.scatter([encoders], broadcast=True, hash=False)
        yield (
            lambda chunk: client.submit(_encode_chunk, *chunk, sent, schema, sampling, pure=False),
            worker_threads(client),
        )


def write_token_shards(
    pairs_path: Path,
    out_dir: Path,
    encoders: Encoders,
    *,
    file_name: Callable[[str], str],
    metadata: dict[str, str],
    row_group_rows: int,
    threads: int,
    length_limit: int,
    splits: set[str] | None = None,
    sampling: Sampling | None = None,
    cluster: str | None = None,
) -> dict[str, dict]:
    """Encode every split (or only `splits`) of the pairs table into TOKENS files; per-split stats.

    The input is read in chunks of at most `ENCODE_ROWS` rows (fewer for a small table, so that
    each worker gets about four equal chunks and none waits on a last long one); `threads`
    workers each encode a whole chunk on one thread into int32 buffers and build its Arrow
    columns, while this thread reads ahead and writes the finished chunks in input order.
    sentencepiece releases the GIL while it encodes, so one worker's encoding overlaps another's
    Python work (text to Python strings, buffers to Arrow). Its own multi-threaded batch encode
    turns every id into a Python int on one thread after the parallel part; skipping the ints
    and that serial tail is why this keeps up with it (benchmarks/tokenize.py). At most
    2 x `threads` chunks are in flight, so memory stays bounded. Row groups and row order do not
    depend on the chunking (each split's rows are buffered into row groups of exactly
    `row_group_rows`). Given `cluster` (a Dask scheduler address), the chunks encode on its
    workers instead of `threads` threads, to the same bytes.
    """
    pairs = pq.ParquetFile(pairs_path)
    total_rows = pairs.metadata.num_rows
    schema = with_metadata(TOKENS, metadata)
    stats: dict[str, LengthStats] = {}
    writers: dict[str, RowGroupWriter] = {}
    started = last_log = time.perf_counter()
    done = 0

    def write(chunk: _Chunk) -> None:
        nonlocal done, last_log
        writers[chunk.split].add(chunk.table)
        stats[chunk.split].add(chunk.src_len, chunk.tgt_len, length_limit)
        done += chunk.table.num_rows
        now = time.perf_counter()
        if now - last_log > 10:
            rate = done / max(now - started, 1e-9)
            log.info(
                "encoded %d/%d pairs (%.0f pairs/s, ETA %.0f s)",
                done,
                total_rows,
                rate,
                (total_rows - done) / rate,
            )
            last_log = now

    # The pool is entered after the ExitStack: on the way out the workers finish before files close.
    with (
        contextlib.ExitStack() as stack,
        _encoding_pool(cluster, threads, encoders, schema, sampling) as (submit, workers),
    ):

        def chunks() -> Iterator[tuple[str, pa.RecordBatch]]:
            rows = max(1, min(ENCODE_ROWS, -(-total_rows // (4 * workers))))
            for split, batch in _split_batches(pairs, splits, rows):
                if split not in writers:
                    if not SPLIT_NAME.match(split):
                        raise ValueError(f"split name {split!r} cannot be a file name")
                    path = out_dir / file_name(split)
                    writer = RowGroupWriter(path, schema, row_group_rows, use_dictionary=DICTIONARY)
                    writers[split] = stack.enter_context(writer)
                    stats[split] = LengthStats()
                yield split, batch

        for chunk in in_order(submit, chunks(), 2 * workers):
            write(chunk)
    log.info("encoded %d pairs in %.1f s", done, time.perf_counter() - started)
    return {split: s.summary(length_limit) for split, s in sorted(stats.items())}

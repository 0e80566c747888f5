"""The pieces that let acquire and tokenize stream: the digest map and the row-group writer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from nmt.core.atomic import write_parquet
from nmt.core.row_groups import RowGroupWriter
from nmt.data.digests import DigestMap


def test_digest_map_finds_what_was_added_across_merged_runs():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**64, size=5200, dtype=np.uint64))[:5000]
    rng.shuffle(keys)
    values = np.arange(5000, dtype=np.uint64) * 7
    seen = DigestMap()
    start = 0
    for size in (1, 3, 500, 17, 1200, 2279):  # runs of uneven sizes, merged as they come
        seen.add(keys[start : start + size], values[start : start + size])
        start += size
    assert len(seen) == start == 4000
    found, got = seen.lookup(keys)  # the last 1000 were never added
    assert found.tolist() == [True] * 4000 + [False] * 1000
    assert np.array_equal(got[:4000], values[:4000])
    empty_found, _ = DigestMap().lookup(keys[:3])
    assert not empty_found.any()


def test_row_group_writer_gives_the_bytes_of_one_write(tmp_path):
    table = pa.table({"id": np.arange(1000), "text": [f"row {i}" for i in range(1000)]})
    write_parquet(tmp_path / "whole.parquet", table, row_group_size=128)
    with RowGroupWriter(tmp_path / "streamed.parquet", table.schema, rows=128) as writer:
        for start, stop in ((0, 1), (1, 300), (300, 301), (301, 1000)):
            writer.add(table.slice(start, stop - start))
    assert (tmp_path / "streamed.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    write_parquet(tmp_path / "empty.parquet", table.schema.empty_table())
    with RowGroupWriter(tmp_path / "none.parquet", table.schema):
        pass
    assert (tmp_path / "none.parquet").read_bytes() == (tmp_path / "empty.parquet").read_bytes()


def test_row_group_writer_leaves_nothing_when_the_block_fails(tmp_path):
    schema = pa.schema([pa.field("id", pa.int64())])
    with pytest.raises(RuntimeError, match="stop"), RowGroupWriter(tmp_path / "t.parquet", schema) as writer:
        writer.add(pa.table({"id": [1, 2]}, schema=schema))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_row_group_writer_raises_a_failed_background_write_and_leaves_nothing(tmp_path):
    """A row group whose write fails on the writing thread (here: rows of another schema) is an
    error of the next add or of the block's end, and no file is left."""
    schema = pa.schema([pa.field("id", pa.int64())])
    wrong = pa.table({"id": pa.array(["a", "b"])})
    with (
        pytest.raises(ValueError, match="schema"),
        RowGroupWriter(tmp_path / "t.parquet", schema, rows=2) as writer,
    ):
        writer.add(wrong)  # a full row group: handed to the writing thread
        writer.add(pa.table({"id": [1, 2]}, schema=schema))
    assert list(tmp_path.iterdir()) == []

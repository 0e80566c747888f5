"""Reading the pairs table (PAIRS, written by acquire) one split at a time, in id order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def split_names(pairs_path: str | Path) -> list[str]:
    """The splits of a pairs table, sorted."""
    return sorted(set(pq.read_table(pairs_path, columns=["split"])["split"].to_pylist()))


def read_split(pairs_path: str | Path, split: str, columns: tuple[str, ...] = ("src", "tgt")) -> pa.Table:
    """The pairs of one split sorted by id: columns `id` and `columns` (no rows if the split is absent)."""
    table = pq.read_table(pairs_path, columns=["id", *columns], filters=pc.field("split") == split)
    return table.sort_by("id")

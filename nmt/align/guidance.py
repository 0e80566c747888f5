"""The statistical links of a run's training pairs over pieces, held flat for guided alignment.

Read once when training starts from <run>/align/links.parquet (one symmetrisation's column) and
<run>/align/pieces.parquet (the pieces of every word): per pair its word links and both sides'
word -> piece ranges, as flat numpy arrays with offsets, never one Python object per pair.
`piece_links` turns one pair's word links into piece links: target piece q of word t links to
every piece of each source word linked to t.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Columns of ALIGN_LINKS guidance can read: a symmetrisation, or one direction's links.
GuideColumn = Literal["intersection", "grow_diag", "grow_diag_final_and", "forward", "reverse"]
GUIDE_COLUMNS: tuple[str, ...] = get_args(GuideColumn)


@dataclass(frozen=True)
class GuideLinks:
    """Word links and word -> piece ranges of pairs sorted by id; pair k's are at offsets[k]:offsets[k+1]."""

    ids: np.ndarray  # [N] int64 pair ids, sorted
    links: np.ndarray  # [L,2] int32 (source word, target word)
    link_offsets: np.ndarray  # [N+1]
    src_ranges: np.ndarray  # [Ws,2] int32 (first piece, end piece) of each source word
    src_offsets: np.ndarray  # [N+1]
    tgt_ranges: np.ndarray  # [Wt,2] int32
    tgt_offsets: np.ndarray  # [N+1]

    @classmethod
    def read(cls, align_dir: Path, column: str = "intersection") -> GuideLinks:
        """Read links.parquet's `column` and pieces.parquet of an align folder."""
        if column not in GUIDE_COLUMNS:
            raise ValueError(f"unknown links column {column!r}; expected one of {GUIDE_COLUMNS}")
        align_dir = Path(align_dir)
        links = pq.read_table(align_dir / "links.parquet", columns=["id", column])
        pieces = pq.read_table(align_dir / "pieces.parquet", columns=["id", "src_pieces", "tgt_pieces"])
        ids = links.column("id").to_numpy()
        if not np.array_equal(ids, pieces.column("id").to_numpy()):
            raise ValueError(f"{align_dir}: links.parquet and pieces.parquet hold other pairs; rerun align")
        order = np.argsort(ids, kind="stable")
        link_values, link_offsets = pharaoh_arrays(links.column(column).combine_chunks())
        src, src_offsets = flat_pairs(pieces.column("src_pieces").combine_chunks())
        tgt, tgt_offsets = flat_pairs(pieces.column("tgt_pieces").combine_chunks())
        return cls(
            ids[order],
            *reorder(link_values, link_offsets, order),
            *reorder(src, src_offsets, order),
            *reorder(tgt, tgt_offsets, order),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, pair_ids: np.ndarray) -> np.ndarray:
        """Row of each pair id, -1 where the pair has no links, [B]."""
        at = np.minimum(np.searchsorted(self.ids, pair_ids), max(len(self.ids) - 1, 0))  # [B]
        found = self.ids[at] == pair_ids if len(self.ids) else np.zeros(len(pair_ids), bool)
        return np.where(found, at, -1)

    def piece_links(self, row: int) -> list[tuple[slice, slice]]:
        """(target pieces, source pieces) blocks of one row's links."""
        src = self.src_ranges[self.src_offsets[row] : self.src_offsets[row + 1]]  # [Ws,2]
        tgt = self.tgt_ranges[self.tgt_offsets[row] : self.tgt_offsets[row + 1]]  # [Wt,2]
        out = []
        for s, t in self.links[self.link_offsets[row] : self.link_offsets[row + 1]]:
            if s < len(src) and t < len(tgt):
                out.append((slice(*tgt[t]), slice(*src[s])))
        return out


def pharaoh_arrays(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Links [L,2] int32 and offsets [N+1] of a column of Pharaoh "i-j" strings."""
    items = pc.split_pattern(column, " ")  # list<string> per row; "" -> [""]
    parents = pc.list_parent_indices(items).to_numpy()  # [items]
    flat = pc.list_flatten(items)
    keep = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)  # [items]
    numbers = pc.list_flatten(pc.split_pattern(flat.filter(pa.array(keep)), "-"))
    links = pc.cast(numbers, pa.int32()).to_numpy().reshape(-1, 2)  # [L,2]
    counts = np.bincount(parents[keep], minlength=len(column))  # [N]
    return links, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def flat_pairs(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Values [W,2] int32 and offsets [N+1] (in pairs) of a list<int16> column of flattened pairs."""
    values = column.values.to_numpy(zero_copy_only=False).astype(np.int32).reshape(-1, 2)  # [W,2]
    return values, column.offsets.to_numpy().astype(np.int64) // 2


def reorder(values: np.ndarray, offsets: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of flat (values, offsets) taken in `order`."""
    if np.array_equal(order, np.arange(len(order))):
        return values, offsets
    lengths = np.diff(offsets)[order]  # [N]
    new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # [N+1]
    take = np.repeat(offsets[:-1][order] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return values[take], new_offsets

"""Token-budget batches of similar-length sentences, reproducible per (seed, epoch).

An epoch's plan is built the way OpenNMT-py does it: shuffle the corpus, cut it into large
pools, sort each pool by length, cut each sorted pool into batches whose padded size
(sentences x longest side, BOS/EOS included) stays within the token budget, then shuffle the
batches. The plan depends only on (seed, epoch), so a position (epoch, batch index) is enough
to resume a run exactly where it stopped.

Special tokens are added here (see nmt.core.vocab): source = pieces + [EOS], decoder input =
[BOS] + pieces, decoder output = pieces + [EOS], PAD elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor

from nmt.core.vocab import BOS, EOS, PAD


@dataclass(frozen=True)
class TokenData:
    """Token ids of one split, flat: source i is src_values[src_offsets[i] : src_offsets[i + 1]].

    The arrays may be memory-mapped files, and the values files read slice by slice
    (nmt.train.data.FileValues); nothing here copies them whole.
    """

    ids: np.ndarray  # [N] int64 pair ids
    src_values: np.ndarray  # [sum of source lengths] int32 (or a FileValues: sliced only)
    src_offsets: np.ndarray  # [N+1]
    tgt_values: np.ndarray  # [sum of target lengths] int32
    tgt_offsets: np.ndarray  # [N+1]

    @classmethod
    def from_table(cls, table: pa.Table) -> TokenData:
        """Take the id, src_ids and tgt_ids columns of a TOKENS table."""
        table = table.combine_chunks()

        def flat(name: str) -> tuple[np.ndarray, np.ndarray]:
            col = table.column(name)
            arr = col.chunk(0) if col.num_chunks else pa.array([], pa.list_(pa.int32()))
            values = arr.values.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
            return values, arr.offsets.to_numpy().astype(np.int64)

        src_values, src_offsets = flat("src_ids")
        tgt_values, tgt_offsets = flat("tgt_ids")
        ids = table.column("id").to_numpy().astype(np.int64)
        return cls(ids, src_values, src_offsets, tgt_values, tgt_offsets)

    @classmethod
    def read(cls, path: str | Path) -> TokenData:
        """Read a TOKENS Parquet file."""
        return cls.from_table(pq.read_table(path, columns=["id", "src_ids", "tgt_ids"]))

    @classmethod
    def from_lists(cls, src: list[list[int]], tgt: list[list[int]]) -> TokenData:
        """Build from Python lists of piece ids (ids become 0..N-1)."""
        table = pa.table(
            {
                "id": pa.array(range(len(src)), pa.int64()),
                "src_ids": pa.array(src, pa.list_(pa.int32())),
                "tgt_ids": pa.array(tgt, pa.list_(pa.int32())),
            }
        )
        return cls.from_table(table)

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, n: int) -> TokenData:
        """The first n sentences (all of them when n >= len), sharing this data's arrays."""
        n = min(n, len(self))
        return TokenData(
            self.ids[:n],
            self.src_values[: self.src_offsets[n]],
            self.src_offsets[: n + 1],
            self.tgt_values[: self.tgt_offsets[n]],
            self.tgt_offsets[: n + 1],
        )

    @cached_property
    def src_lens(self) -> np.ndarray:
        """Source lengths in pieces (no EOS), [N]."""
        return np.diff(self.src_offsets)

    @cached_property
    def tgt_lens(self) -> np.ndarray:
        """Target lengths in pieces (no BOS/EOS), [N]."""
        return np.diff(self.tgt_offsets)

    def src(self, i: int) -> np.ndarray:
        """Source piece ids of sentence i."""
        return self.src_values[self.src_offsets[i] : self.src_offsets[i + 1]]

    def tgt(self, i: int) -> np.ndarray:
        """Target piece ids of sentence i."""
        return self.tgt_values[self.tgt_offsets[i] : self.tgt_offsets[i + 1]]


@dataclass(frozen=True)
class Batch:
    """Padded tensors of one batch; src_len stays on the CPU (packing needs it there)."""

    index: np.ndarray  # [B] row numbers in the TokenData
    src: Tensor  # [B,S] pieces + EOS
    src_len: Tensor  # [B] source lengths including EOS
    tgt_in: Tensor  # [B,T] BOS + pieces
    tgt_out: Tensor  # [B,T] pieces + EOS
    n_tgt_tokens: int  # real target tokens (pieces + EOS), the loss denominator

    def to(self, device: torch.device) -> Batch:
        """Move the tensors the model reads to `device` without waiting for the copy."""
        return Batch(
            self.index,
            self.src.to(device, non_blocking=True),
            self.src_len,
            self.tgt_in.to(device, non_blocking=True),
            self.tgt_out.to(device, non_blocking=True),
            self.n_tgt_tokens,
        )


def pad_sources(sources: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Encoder input of piece-id sequences: src [B,S] (pieces + EOS, PAD after) and src_len [B] with EOS."""
    src_len = np.array([len(s) + 1 for s in sources], dtype=np.int64)  # [B]
    src = np.full((len(sources), int(src_len.max())), PAD, dtype=np.int64)  # [B,S]
    for row, s in enumerate(sources):
        src[row, : len(s)] = s
        src[row, len(s)] = EOS
    return torch.from_numpy(src), torch.from_numpy(src_len)


def pad_targets(targets: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Decoder input [BOS] + pieces and output pieces + [EOS] of piece-id sequences, PAD after: [B,T] each."""
    tgt_in = np.full((len(targets), max(len(t) for t in targets) + 1), PAD, dtype=np.int64)  # [B,T]
    tgt_out = np.full_like(tgt_in, PAD)  # [B,T]
    for row, t in enumerate(targets):
        tgt_in[row, 0] = BOS
        tgt_in[row, 1 : len(t) + 1] = t
        tgt_out[row, : len(t)] = t
        tgt_out[row, len(t)] = EOS
    return torch.from_numpy(tgt_in), torch.from_numpy(tgt_out)


def make_batch(data: TokenData, index: np.ndarray) -> Batch:
    """Pad the sentences `index` of `data` into a Batch (special tokens added here)."""
    src, src_len = pad_sources([data.src(i) for i in index])
    tgt_in, tgt_out = pad_targets([data.tgt(i) for i in index])
    return Batch(
        index=np.asarray(index),
        src=src,
        src_len=src_len,
        tgt_in=tgt_in,
        tgt_out=tgt_out,
        n_tgt_tokens=int(data.tgt_lens[index].sum()) + len(index),  # pieces + EOS
    )


def cut_sorted(order: np.ndarray, sizes: np.ndarray, batch_tokens: int) -> list[np.ndarray]:
    """Cut `order` (sorted by size) into runs whose count x max size stays within batch_tokens.

    Greedy, one batch at a time: a batch starting at sentence s can hold at most
    batch_tokens // sizes[s] + 1 sentences before it overflows, so only that window is scanned.
    A sentence over the budget alone is a batch of its own.
    """
    ordered = np.asarray(sizes)[order]  # [N] sizes in batch order
    batches, start = [], 0
    while start < len(order):
        window = ordered[start : start + batch_tokens // max(int(ordered[start]), 1) + 1]
        padded = np.maximum.accumulate(window) * np.arange(1, len(window) + 1)  # [W]
        over = np.flatnonzero(padded[1:] > batch_tokens)
        end = start + (int(over[0]) + 1 if len(over) else len(window))
        batches.append(order[start:end])
        start = end
    return batches


def length_batches(sizes: Sequence[int], budget: int) -> list[np.ndarray]:
    """Indices sorted by size (stable) cut into batches whose count x largest size stays within budget."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return cut_sorted(np.argsort(sizes, kind="stable"), sizes, budget)


def padded_sizes(data: TokenData) -> np.ndarray:
    """Per sentence the padded length that counts against the budget: max(S, T) with EOS/BOS, [N]."""
    return np.maximum(data.src_lens, data.tgt_lens) + 1


def plan_epoch(
    data: TokenData, batch_tokens: int, seed: int, epoch: int, pool_size: int = 100_000
) -> list[np.ndarray]:
    """Shuffled token-budget batches of one training epoch; the same for the same (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    sizes = padded_sizes(data)
    perm = rng.permutation(len(data))
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), pool_size):
        pool = perm[start : start + pool_size]
        # Sort by target, then source length; stable, so ties keep the shuffled order.
        pool = pool[np.lexsort((data.src_lens[pool], data.tgt_lens[pool]))]
        batches.extend(cut_sorted(pool, sizes, batch_tokens))
    order = rng.permutation(len(batches))
    return [batches[k] for k in order]


def plan_sorted(data: TokenData, batch_tokens: int) -> list[np.ndarray]:
    """Unshuffled token-budget batches of the whole split sorted by source length (inference)."""
    order = np.lexsort((data.tgt_lens, data.src_lens))
    return cut_sorted(order, padded_sizes(data), batch_tokens)


@dataclass(frozen=True)
class DataPosition:
    """Where training stands in the data: the next batch to read is plan(epoch)[batch]."""

    epoch: int = 0
    batch: int = 0

    def to_dict(self) -> dict[str, int]:
        """Plain dict for checkpoints."""
        return {"epoch": self.epoch, "batch": self.batch}

    @classmethod
    def from_dict(cls, d: dict) -> DataPosition:
        """Inverse of to_dict."""
        return cls(int(d["epoch"]), int(d["batch"]))


class BatchStream:
    """Endless groups of batches from a position on: one group per optimizer step.

    A step reads `group` consecutive batches of the epoch's plan (ranks x accumulation);
    an epoch's last batches that do not fill a whole group are skipped.
    """

    def __init__(
        self,
        data: TokenData,
        batch_tokens: int,
        seed: int,
        group: int = 1,
        pool_size: int = 100_000,
        epoch_data: Callable[[int], TokenData] | None = None,
    ):
        self.data = data
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.group = group
        self.pool_size = pool_size
        # Subword sampling: epoch e reads epoch_data(e) (same rows as `data`, other segmentations).
        self.epoch_data = epoch_data
        self.epoch = 0  # the epoch of the group groups() yielded last
        self._plans: dict[int, list[np.ndarray]] = {}
        self._data: dict[int, TokenData] = {}

    def data_of(self, epoch: int) -> TokenData:
        """The token data that `epoch`'s plan indexes (the latest epoch's is cached)."""
        if self.epoch_data is None:
            return self.data
        if epoch not in self._data:
            self._data = {epoch: self.epoch_data(epoch)}
        return self._data[epoch]

    def plan(self, epoch: int) -> list[np.ndarray]:
        """The batches of `epoch` (the latest epoch's plan is cached)."""
        if epoch not in self._plans:
            self._plans = {
                epoch: plan_epoch(self.data_of(epoch), self.batch_tokens, self.seed, epoch, self.pool_size)
            }
        return self._plans[epoch]

    def groups(self, start: DataPosition) -> Iterator[tuple[list[np.ndarray], DataPosition]]:
        """Yield (the group's batch indices, the position after it) forever, from `start`.

        Positions are normalised: after an epoch's last full group comes (epoch + 1, 0).
        """
        if len(self.plan(start.epoch)) < self.group:
            raise ValueError(
                f"an epoch has {len(self.plan(start.epoch))} batches, fewer than the "
                f"{self.group} one step needs; lower batch_tokens or use more data"
            )
        pos = self._normal(start)
        while True:
            group = self.plan(pos.epoch)[pos.batch : pos.batch + self.group]
            self.epoch = pos.epoch
            pos = self._normal(DataPosition(pos.epoch, pos.batch + self.group))
            yield group, pos

    def _normal(self, pos: DataPosition) -> DataPosition:
        """`pos`, moved to the next epoch's start where its epoch has no full group left."""
        if pos.batch + self.group > len(self.plan(pos.epoch)):
            return DataPosition(pos.epoch + 1, 0)
        return pos

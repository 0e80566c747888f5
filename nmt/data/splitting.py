"""Seeded train/valid/test split for corpora that have none, keeping related pairs together.

Pairs that share a source sentence or a target sentence (Tatoeba has many translations of one
English sentence) form one group, and a group goes whole to one split. Sentences are known by
8-byte digests (nmt.data.digests), so the split of millions of pairs needs 16 bytes per pair
and no text in memory. A group's split follows from a hash of the seed and the group's smallest
sentence digest (either side), so it depends neither on the order of the file, nor on other
groups, nor on which side is the source.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nmt.data.digests import digest

SPLITS = ("train", "valid", "test")  # the names of assign_splits' codes 0, 1, 2
_TARGET = np.uint64(0x9E3779B97F4A7C15)  # target sentences are other nodes than equal source ones


class SplitConfig(BaseModel):
    """Fractions of sentence groups sent to valid and test; the rest is train."""

    model_config = ConfigDict(extra="forbid")

    valid: float = Field(0.02, ge=0.0, lt=1.0)
    test: float = Field(0.02, ge=0.0, lt=1.0)
    seed: int = 1

    @model_validator(mode="after")
    def _leave_train(self) -> SplitConfig:
        if self.valid + self.test >= 1.0:
            raise ValueError(f"valid + test = {self.valid + self.test} leaves nothing to train on")
        return self


def sentence_key(text: str) -> int:
    """The digest of a sentence (either side) for `assign_splits`."""
    return digest(text)


def _groups(src_keys: np.ndarray, tgt_keys: np.ndarray) -> np.ndarray:
    """Connected components over shared sentences of one side: the group label of each pair.

    Labels are sentence indices; they only decrease, propagate along pairs and jump to their
    own label's label, until every pair joins two sentences of one label.
    """
    nodes, inverse = np.unique(np.concatenate([src_keys, tgt_keys ^ _TARGET]), return_inverse=True)
    a, b = inverse[: len(src_keys)], inverse[len(src_keys) :]  # [pairs] sentence indices
    label = np.arange(len(nodes))
    while True:
        linked = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, linked)
        np.minimum.at(new, b, linked)
        while not np.array_equal(jumped := new[new], new):
            new = jumped
        if np.array_equal(new, label):
            return label[a]
        label = new


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a uint64 hash of each uint64."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def assign_splits(src_keys: np.ndarray, tgt_keys: np.ndarray, cfg: SplitConfig) -> np.ndarray:
    """The split code (an index of SPLITS) of each pair, from its sentences' `sentence_key`s."""
    src_keys, tgt_keys = (np.asarray(k, dtype=np.uint64) for k in (src_keys, tgt_keys))
    if not len(src_keys):
        return np.zeros(0, dtype=np.int8)
    group = _groups(src_keys, tgt_keys)
    smallest = np.full(group.max() + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, group, np.minimum(src_keys, tgt_keys))
    seed = _mix(np.array([cfg.seed & (2**64 - 1)], dtype=np.uint64))
    u = (_mix(smallest[group] ^ seed) >> np.uint64(11)).astype(np.float64) / 2.0**53  # [pairs] in [0, 1)
    return np.where(u < cfg.test, 2, np.where(u < cfg.test + cfg.valid, 1, 0)).astype(np.int8)

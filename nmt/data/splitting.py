"""Seeded train/valid/test split for corpora that have none, keeping related pairs together.

Pairs that share a source sentence or a target sentence (Tatoeba has many translations of one
English sentence) form one group, and a group goes whole to one split. A group's split follows
from a hash of the seed and the group's smallest sentence (either side), so it depends neither on
the order of the file, nor on other groups, nor on which side is the source.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


def _groups(pairs: list[tuple[str, str]]) -> list[int]:
    """Union-find over shared sides: the group (a root index) of every pair."""
    parent = list(range(len(pairs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[int, str], int] = {}
    for i, (src, tgt) in enumerate(pairs):
        for key in ((0, src), (1, tgt)):
            j = first.setdefault(key, i)
            if j != i:
                parent[root(i)] = root(j)
    return [root(i) for i in range(len(pairs))]


def assign_splits(pairs: list[tuple[str, str]], cfg: SplitConfig) -> list[str]:
    """The split (train, valid or test) of each (src, tgt) pair."""
    groups = _groups(pairs)
    key: dict[int, str] = {}
    for pair, group in zip(pairs, groups, strict=True):
        smallest = min(pair)
        if group not in key or smallest < key[group]:
            key[group] = smallest
    splits: dict[int, str] = {}
    for group, text in key.items():
        digest = hashlib.sha256(f"{cfg.seed}\0{text}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        splits[group] = "test" if u < cfg.test else "valid" if u < cfg.test + cfg.valid else "train"
    return [splits[g] for g in groups]

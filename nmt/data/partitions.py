"""Acquire's partitioned part: the records read cut into chunks, each cleaned by a pure function.

`chunks` cuts each input's records, in reading order, into chunks of `CHUNK_ITEMS`;
`clean_chunk` cleans and filters one chunk in any process (here, or on a Dask worker) and
returns its events in the same order, with the deduplication digest of each pair whose split
is known. The acquire stage's single writer takes the chunks' results in chunk order and
deduplicates against everything before, so the output is the same wherever the chunks ran.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nmt.data.cleaning import CleaningConfig, check_pair, clean_text, escape_raw
from nmt.data.digests import fast_digest
from nmt.data.readers import Item, RawPair, Reject

CHUNK_ITEMS = 1 << 14  # records per chunk
SPLIT_ALIASES = {"val": "valid", "dev": "valid", "validation": "valid"}


@dataclass
class Chunk:
    """Consecutive records of one input; `split` None: each record names its split, or none does."""

    items: list[Item]
    split: str | None


@dataclass
class Cleaned:
    """A chunk after cleaning, in reading order.

    `events` holds a Reject for each dropped record and (split, src, tgt, record) for each kept
    pair, split None where the pair awaits the seeded split; `keys` holds the deduplication
    digest of each pair with a split, in order (empty when deduplication is off).
    """

    events: list[Reject | tuple[str | None, str, str, RawPair]]
    keys: list[int]


def chunks(inputs: Iterable[tuple[Iterable[Item], str | None]]) -> Iterator[Chunk]:
    """Each (records, split) input's records, in reading order, in chunks of CHUNK_ITEMS."""
    for items, split in inputs:
        it = iter(items)
        while batch := list(itertools.islice(it, CHUNK_ITEMS)):
            yield Chunk(batch, split)


def dedupe_key(split: str, src: str, tgt: str) -> int:
    """The digest that deduplicates a cleaned pair within its split."""
    return fast_digest(f"{split}\0{src}\0{tgt}")


def pair_reject(item: RawPair, problem: tuple[str, str]) -> Reject:
    """The rejects row of a read pair dropped for `problem` (reason, detail), with its raw text."""
    return Reject(item.origin, item.line, *problem, escape_raw(f"{item.src}\t{item.tgt}"))


def clean_chunk(chunk: Chunk, cleaning: CleaningConfig) -> Cleaned:
    """Clean and filter one chunk's records; the digests of the kept pairs with a split."""
    dedupe = cleaning.enabled and cleaning.dedupe
    events: list[Reject | tuple[str | None, str, str, RawPair]] = []
    keys: list[int] = []
    for item in chunk.items:
        if isinstance(item, Reject):
            events.append(item)
            continue
        src, tgt = clean_text(item.src, cleaning), clean_text(item.tgt, cleaning)
        problem = check_pair(src, tgt, cleaning)
        if problem is not None:
            events.append(pair_reject(item, problem))
            continue
        split = chunk.split or (item.split and SPLIT_ALIASES.get(item.split, item.split)) or None
        if split is not None and dedupe:
            keys.append(dedupe_key(split, src, tgt))
        events.append((split, src, tgt, item))
    return Cleaned(events, keys)

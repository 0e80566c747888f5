"""Symmetrising the alignments of two models trained in opposite directions (Koehn et al., 2003).

Both inputs are 0-based (source, target) links of the same sentence: `forward` from the
source->target model, `backward` from the target->source model already turned round.

    intersection      links both directions agree on: high precision
    union             links either direction proposes: high recall
    grow-diag-final   start from the intersection; repeatedly add union links next to (also
                      diagonally) a chosen link whose source or target word is still unaligned;
                      finally add union links of either direction whose source or target word
                      is still unaligned

Soft symmetrisation combines the two models' word-level attention before any link is read
(`soft_symmetrize`): the forward [tgt, src] matrix with the backward [src, tgt] one turned
round, by their mean ("mean", a soft union) or their geometric mean ("geometric", which keeps
only weight both directions give, as the product of posteriors in alignment by agreement, Liang
et al., 2006); links are then read off the result (nmt.align.links.matrix_links).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Link = tuple[int, int]
Method = Literal["intersection", "union", "grow-diag-final"]
METHODS: tuple[str, ...] = ("intersection", "union", "grow-diag-final")
SoftMethod = Literal["mean", "geometric"]
SOFT_METHODS: tuple[str, ...] = ("mean", "geometric")
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def symmetrize(forward: set[Link], backward: set[Link], method: Method) -> set[Link]:
    """Combine the links of the two directions with the given heuristic."""
    if method == "intersection":
        return forward & backward
    if method == "union":
        return forward | backward
    if method == "grow-diag-final":
        return grow_diag_final(forward, backward)
    raise ValueError(f"unknown symmetrisation {method!r}; expected one of {METHODS}")


def grow_diag_final(forward: set[Link], backward: set[Link]) -> set[Link]:
    """Koehn's grow-diag-final over the two directions' links."""
    union = forward | backward
    chosen = set(forward & backward)
    src_aligned = {i for i, _ in chosen}
    tgt_aligned = {j for _, j in chosen}

    def add(link: Link) -> None:
        chosen.add(link)
        src_aligned.add(link[0])
        tgt_aligned.add(link[1])

    grown = True
    while grown:
        grown = False
        for i, j in sorted(chosen):
            for di, dj in NEIGHBOURS:
                new = (i + di, j + dj)
                if (
                    new in union
                    and new not in chosen
                    and (new[0] not in src_aligned or new[1] not in tgt_aligned)
                ):
                    add(new)
                    grown = True
    for direction in (forward, backward):
        for link in sorted(direction):
            if link not in chosen and (link[0] not in src_aligned or link[1] not in tgt_aligned):
                add(link)
    return chosen


def soft_symmetrize(forward: np.ndarray, backward: np.ndarray, method: SoftMethod = "mean") -> np.ndarray:
    """Combine attention forward [tgt, src] and backward [src, tgt] into one [tgt, src] matrix."""
    if forward.shape != backward.T.shape:
        raise ValueError(f"forward {forward.shape} and backward {backward.shape} are not transposes")
    if method == "mean":
        return (forward + backward.T) / 2  # [T,S]
    if method == "geometric":
        return np.sqrt(forward * backward.T)  # [T,S]
    raise ValueError(f"unknown soft symmetrisation {method!r}; expected one of {SOFT_METHODS}")

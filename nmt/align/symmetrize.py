"""Symmetrising the alignments of two models trained in opposite directions (Koehn et al., 2003).

Both inputs are 0-based (source, target) links of the same sentence: `forward` from the
source->target model, `backward` from the target->source model already turned round.

    intersection      links both directions agree on: high precision
    union             links either direction proposes: high recall
    grow-diag         start from the intersection; repeatedly add union links next to (also
                      diagonally) a chosen link whose source or target word is still unaligned
    grow-diag-final   grow-diag, then add the links of either direction (forward first) whose
                      source or target word is still unaligned
    grow-diag-final-and   the same, adding only links whose source and target words are both
                      still unaligned

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
Method = Literal["intersection", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and"]
METHODS: tuple[str, ...] = ("intersection", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")
SoftMethod = Literal["mean", "geometric"]
SOFT_METHODS: tuple[str, ...] = ("mean", "geometric")
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def symmetrize(forward: set[Link], backward: set[Link], method: Method) -> set[Link]:
    """Combine the links of the two directions with the given heuristic."""
    if method == "intersection":
        return forward & backward
    if method == "union":
        return forward | backward
    if method == "grow-diag":
        return grow_diag(forward, backward)
    if method == "grow-diag-final":
        return final(grow_diag(forward, backward), forward, backward, both_unaligned=False)
    if method == "grow-diag-final-and":
        return final(grow_diag(forward, backward), forward, backward, both_unaligned=True)
    raise ValueError(f"unknown symmetrisation {method!r}; expected one of {METHODS}")


def grow_diag(forward: set[Link], backward: set[Link]) -> set[Link]:
    """Koehn's grow-diag: the intersection grown into neighbouring union links."""
    union = forward | backward
    chosen = set(forward & backward)
    src_aligned = {i for i, _ in chosen}
    tgt_aligned = {j for _, j in chosen}
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
                    chosen.add(new)
                    src_aligned.add(new[0])
                    tgt_aligned.add(new[1])
                    grown = True
    return chosen


def final(chosen: set[Link], forward: set[Link], backward: set[Link], both_unaligned: bool) -> set[Link]:
    """Koehn's final step: add each direction's links whose words are unaligned (one of them, or both)."""
    out = set(chosen)
    src_aligned = {i for i, _ in out}
    tgt_aligned = {j for _, j in out}
    for direction in (forward, backward):
        for i, j in sorted(direction):
            free_src, free_tgt = i not in src_aligned, j not in tgt_aligned
            if (i, j) not in out and ((free_src and free_tgt) if both_unaligned else (free_src or free_tgt)):
                out.add((i, j))
                src_aligned.add(i)
                tgt_aligned.add(j)
    return out


def soft_symmetrize(forward: np.ndarray, backward: np.ndarray, method: SoftMethod = "mean") -> np.ndarray:
    """Combine attention forward [tgt, src] and backward [src, tgt] into one [tgt, src] matrix."""
    if forward.shape != backward.T.shape:
        raise ValueError(f"forward {forward.shape} and backward {backward.shape} are not transposes")
    if method == "mean":
        return (forward + backward.T) / 2  # [T,S]
    if method == "geometric":
        return np.sqrt(forward * backward.T)  # [T,S]
    raise ValueError(f"unknown soft symmetrisation {method!r}; expected one of {SOFT_METHODS}")

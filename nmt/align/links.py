"""Soft attention -> hard alignment links, subword links -> word links, Pharaoh `i-j` text.

A link (i, j) joins source position i to target position j, both 0-based; Pharaoh text writes
it as "i-j", links sorted and separated by single spaces.

Hard links: every target piece (the EOS row excluded) is linked to the source piece it attends
to most (the source EOS column excluded). Word links: a sentencepiece piece that starts with
"▁" (U+2581) opens a new word, any other piece continues the current word (the first piece
always opens word 0), so a lone "▁" piece opens the word its next pieces continue. Two words are
linked when any of their pieces are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORD_START = "\u2581"

Link = tuple[int, int]


def hard_links(attention: np.ndarray) -> list[Link]:
    """Argmax links from attention [tgt+1, src+1] (rows and columns include EOS)."""
    rows = attention[:-1, :-1]  # [T,S] without the EOS step and the source EOS
    if rows.shape[0] == 0 or rows.shape[1] == 0:
        return []
    return [(int(i), j) for j, i in enumerate(rows.argmax(axis=1))]


def word_index(pieces: list[str]) -> list[int]:
    """Word number of every piece, from the "▁" word-start marker."""
    out, word = [], -1
    for k, piece in enumerate(pieces):
        if k == 0 or piece.startswith(WORD_START):
            word += 1
        out.append(word)
    return out


def merge_links(links: list[Link], src_pieces: list[str], tgt_pieces: list[str]) -> list[Link]:
    """Map piece links to word links (sorted, without duplicates)."""
    src_word, tgt_word = word_index(src_pieces), word_index(tgt_pieces)
    return sorted({(src_word[i], tgt_word[j]) for i, j in links})


def pharaoh(links: list[Link]) -> str:
    """Pharaoh text "i-j i-j ..." of sorted links."""
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


def word_attention(
    attention: np.ndarray,
    src_word: Sequence[int | Sequence[int]],
    tgt_word: Sequence[int | Sequence[int]],
    shift: int = 0,
) -> np.ndarray:
    """Attention [tgt+1, src+1] over pieces merged to words [tgt words, src words].

    Target piece j reads row j + shift (shift 1: the step where piece j is the decoder input,
    the last piece then reads the EOS step); the source EOS column is dropped. `src_word[p]` is
    the word of piece p, or the words of a piece shared by several (`du` for the words `de le`).
    A source word gets the sum of its pieces' weights (a shared piece counts in full for each of
    its words), a target word the mean of its pieces' rows.
    """
    if shift not in (0, 1):
        raise ValueError(f"shift must be 0 or 1, not {shift}")
    rows = attention[shift : shift + len(tgt_word), : len(src_word)]  # [T,S] pieces
    src_of = membership(src_word)  # [S,Sw]
    tgt_of = membership(tgt_word)  # [T,Tw]
    words = tgt_of.T @ rows.astype(np.float32) @ src_of  # [Tw,Sw]
    return words / np.maximum(tgt_of.sum(axis=0), 1)[:, None]


def membership(words: Sequence[int | Sequence[int]]) -> np.ndarray:
    """0/1 matrix [pieces, words] of the word (int) or words (sequence) of every piece."""
    owners = [(w,) if isinstance(w, int | np.integer) else tuple(w) for w in words]
    out = np.zeros((len(owners), max((max(o) for o in owners if o), default=-1) + 1), dtype=np.float32)
    for p, ws in enumerate(owners):
        out[p, list(ws)] = 1.0
    return out


def matrix_links(matrix: np.ndarray, threshold: float | None = None) -> list[Link]:
    """Links (src, tgt) of a [tgt, src] matrix: each row's argmax, or every weight >= threshold."""
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        return []
    if threshold is None:
        return sorted((int(i), j) for j, i in enumerate(matrix.argmax(axis=1)))
    tgt, src = np.nonzero(matrix >= threshold)
    return sorted(zip(src.tolist(), tgt.tolist(), strict=True))

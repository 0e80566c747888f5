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
    attention: np.ndarray, src_word: list[int], tgt_word: list[int], shift: int = 0
) -> np.ndarray:
    """Attention [tgt+1, src+1] over pieces merged to words [tgt words, src words].

    Target piece j reads row j + shift (shift 1: the step where piece j is the decoder input,
    the last piece then reads the EOS step); the source EOS column is dropped. A source word
    gets the sum of its pieces' weights, a target word the mean of its pieces' rows.
    """
    if shift not in (0, 1):
        raise ValueError(f"shift must be 0 or 1, not {shift}")
    n_tgt, n_src = len(tgt_word), len(src_word)
    rows = attention[shift : shift + n_tgt, :n_src]  # [T,S] pieces
    src_sum = np.zeros((n_tgt, max(src_word, default=-1) + 1), dtype=np.float32)  # [T,Sw]
    np.add.at(src_sum.T, np.asarray(src_word, dtype=np.int64), rows.T)
    words = np.zeros((max(tgt_word, default=-1) + 1, src_sum.shape[1]), dtype=np.float32)  # [Tw,Sw]
    np.add.at(words, np.asarray(tgt_word, dtype=np.int64), src_sum)
    counts = np.bincount(np.asarray(tgt_word, dtype=np.int64), minlength=words.shape[0])  # [Tw]
    return words / np.maximum(counts, 1)[:, None]


def matrix_links(matrix: np.ndarray, threshold: float | None = None) -> list[Link]:
    """Links (src, tgt) of a [tgt, src] matrix: each row's argmax, or every weight >= threshold."""
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        return []
    if threshold is None:
        return sorted((int(i), j) for j, i in enumerate(matrix.argmax(axis=1)))
    tgt, src = np.nonzero(matrix >= threshold)
    return sorted(zip(src.tolist(), tgt.tolist(), strict=True))

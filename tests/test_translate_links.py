"""Attention to hard links, subword links merged to words, Pharaoh text."""

import numpy as np
import pytest

from nmt.align.links import hard_links, matrix_links, merge_links, pharaoh, word_attention, word_index


def test_hard_links_skip_both_eos():
    # 3 target pieces + EOS row, 2 source pieces + EOS column.
    att = np.array(
        [
            [0.1, 0.2, 0.7],  # the source EOS column is ignored: piece 1 wins
            [0.6, 0.3, 0.1],
            [0.2, 0.5, 0.3],
            [0.0, 0.0, 1.0],  # the EOS step makes no link
        ],
        dtype=np.float32,
    )
    assert hard_links(att) == [(1, 0), (0, 1), (1, 2)]
    assert pharaoh(hard_links(att)) == "0-1 1-0 1-2"


def test_word_index_from_markers():
    assert word_index(["▁Ein", "▁Hund", "e", "s", "▁", ",", "▁lä", "uft"]) == [0, 1, 1, 1, 2, 2, 3, 3]
    assert word_index(["Hallo", "▁Welt"]) == [0, 1]  # the first piece always opens a word
    assert word_index(["▁", "<0xE2>", "<0x82>", "<0xAC>"]) == [0, 0, 0, 0]  # byte pieces continue


def test_merge_links_hand_made():
    src = ["▁Der", "▁Hund", "e", "hütte", "▁ist", "▁rot", "."]  # Der Hundehütte ist rot.
    tgt = ["▁The", "▁dog", "▁ken", "nel", "▁is", "▁red", "."]  # The dog kennel is red.
    sub = [(0, 0), (1, 1), (3, 2), (2, 3), (4, 4), (5, 5), (6, 6)]
    words = merge_links(sub, src, tgt)
    assert words == [(0, 0), (1, 1), (1, 2), (2, 3), (3, 4)]
    assert pharaoh(words) == "0-0 1-1 1-2 2-3 3-4"
    assert pharaoh([]) == ""


def test_word_attention_merges_pieces_and_shifts_rows():
    # 2 target pieces + EOS row; 3 source pieces + EOS column
    attention = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.0, 0.1, 0.1, 0.8]], np.float32)
    # source pieces 0, 1 form word 0; both target pieces form word 0: rows averaged, columns summed
    np.testing.assert_allclose(word_attention(attention, [0, 0, 1], [0, 0]), [[0.5, 0.4]])
    # shift 1: piece j reads row j + 1 (the last piece reads the EOS step)
    np.testing.assert_allclose(
        word_attention(attention, [0, 1, 2], [0, 1], shift=1), [[0.1, 0.1, 0.7], [0.0, 0.1, 0.1]]
    )
    with pytest.raises(ValueError, match="shift must be 0 or 1"):
        word_attention(attention, [0, 1, 2], [0, 1], shift=2)


def test_matrix_links_argmax_or_threshold():
    matrix = np.array([[0.6, 0.3, 0.1], [0.2, 0.25, 0.55]], np.float32)  # [tgt 2, src 3]
    assert matrix_links(matrix) == [(0, 0), (2, 1)]
    assert matrix_links(matrix, threshold=0.25) == [(0, 0), (1, 0), (1, 1), (2, 1)]
    assert matrix_links(np.zeros((0, 3), np.float32)) == []

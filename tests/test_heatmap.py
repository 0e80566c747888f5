"""Attention heatmaps are valid PNG files of the documented pixel size."""

import struct

import numpy as np
import pytest

from nmt.evaluate.heatmap import MAX_TOKENS, heatmap_size, save_heatmap


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_heatmap_is_a_png_of_the_expected_size(tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.dirichlet(np.ones(7), size=5).astype(np.float32)  # [5 target, 7 source]
    path = save_heatmap(
        matrix, list("abcdefg"), ["x", "yy", "zzz", "w", "v"], tmp_path / "h.png", "t", {(0, 0)}
    )
    assert png_size(path) == heatmap_size(7, 5)
    assert heatmap_size(7, 5)[0] > heatmap_size(4, 5)[0] and heatmap_size(7, 9)[1] > heatmap_size(7, 5)[1]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_long_sentences_are_cut_and_mismatches_refused(tmp_path):
    n = MAX_TOKENS + 10
    path = save_heatmap(
        np.zeros((3, n), np.float32), [f"s{i}" for i in range(n)], ["a", "b", "c"], tmp_path / "l.png"
    )
    assert png_size(path) == heatmap_size(MAX_TOKENS, 3)
    with pytest.raises(ValueError, match=r"matrix \(2, 2\) does not match 3 x 2 tokens"):
        save_heatmap(np.zeros((2, 2), np.float32), ["a", "b"], ["x", "y", "z"], tmp_path / "bad.png")

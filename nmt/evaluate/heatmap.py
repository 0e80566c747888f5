"""Attention heatmaps as PNG: source tokens along the x axis, target tokens down the y axis.

The figure size follows the matrix (CELL inches per token plus fixed margins for the labels) at
DPI dots per inch, so a file's pixel size is `heatmap_size(n_src, n_tgt)`, and matplotlib's
non-interactive Agg backend draws it (no display needed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
import numpy as np  # noqa: E402

from nmt.core.atomic import atomic_path  # noqa: E402

DPI = 100
CELL = 0.32  # inches per token
LEFT, RIGHT, TOP, BOTTOM = 1.3, 0.2, 1.4, 0.2  # inches around the cells: labels and the title
MAX_TOKENS = 120  # longer axes are cut, with a note in the title


def heatmap_size(n_src: int, n_tgt: int) -> tuple[int, int]:
    """(width, height) in pixels of the heatmap of a [n_tgt, n_src] matrix."""
    n_src, n_tgt = min(n_src, MAX_TOKENS), min(n_tgt, MAX_TOKENS)
    width = LEFT + RIGHT + CELL * max(n_src, 4)
    height = TOP + BOTTOM + CELL * max(n_tgt, 4)
    return round(width * DPI), round(height * DPI)


def save_heatmap(
    matrix: np.ndarray,
    src_tokens: list[str],
    tgt_tokens: list[str],
    path: Path,
    title: str = "",
    links: set[tuple[int, int]] | None = None,
) -> Path:
    """Write the attention matrix [tgt, src] as a PNG; gold or predicted (src, tgt) links are outlined."""
    n_tgt, n_src = matrix.shape
    if (n_tgt, n_src) != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(f"matrix {matrix.shape} does not match {len(tgt_tokens)} x {len(src_tokens)} tokens")
    if n_src > MAX_TOKENS or n_tgt > MAX_TOKENS:
        title = f"{title} (cut to {MAX_TOKENS} tokens)".strip()
    n_src, n_tgt = min(n_src, MAX_TOKENS), min(n_tgt, MAX_TOKENS)
    width, height = heatmap_size(n_src, n_tgt)
    fig, ax = plt.subplots(figsize=(width / DPI, height / DPI), dpi=DPI)
    try:
        w, h = width / DPI, height / DPI
        fig.subplots_adjust(left=LEFT / w, right=1 - RIGHT / w, bottom=BOTTOM / h, top=1 - TOP / h)
        ax.imshow(
            matrix[:n_tgt, :n_src], cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
        )
        ax.xaxis.tick_top()
        ax.set_xticks(range(n_src), src_tokens[:n_src], rotation=90, fontsize=8)
        ax.set_yticks(range(n_tgt), tgt_tokens[:n_tgt], fontsize=8)
        for i, j in sorted(links or ()):
            if i < n_src and j < n_tgt:
                ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="tab:red", lw=1.2))
        if title:
            fig.suptitle(title, fontsize=9, y=1 - 0.05 / h, va="top")
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return Path(path)

"""Where training's token data comes from: train.parquet and its subword-sampled copies."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nmt.model.batching import TokenData
from nmt.text.tokenization import SAMPLED_DIR

logger = logging.getLogger(__name__)


def sampled_epochs(tokenize_dir: Path, train: TokenData) -> Callable[[int], TokenData]:
    """Epoch -> the TokenData of sampled/train-<epoch % K>.parquet; checks the K copies exist.

    K is the tokenize manifest's `sampled_copies` (without a manifest: the highest copy number
    present + 1). Every copy must hold the rows of train.parquet, in the same order.
    """
    folder = tokenize_dir / SAMPLED_DIR
    manifest = tokenize_dir / "manifest.json"
    if manifest.exists():
        k = int(json.loads(manifest.read_text(encoding="utf-8"))["settings"]["sampled_copies"])
    else:
        found = [p.stem.removeprefix("train-") for p in folder.glob("train-*.parquet")]
        k = max((int(n) + 1 for n in found if n.isdigit()), default=0)
    paths = [folder / f"train-{i}.parquet" for i in range(k)]
    missing = [p.name for p in paths if not p.exists()]
    if not paths or missing:
        raise FileNotFoundError(
            f"subword_sampling=True needs the subword-sampled train copies in {folder} "
            f"(missing: {missing or 'train-0.parquet ...'}); run the tokenize stage with "
            "sampled_copies=K (K >= 1) or train with subword_sampling=False"
        )

    def read(epoch: int) -> TokenData:
        path = paths[epoch % k]
        data = TokenData.read(path)
        if not np.array_equal(data.ids, train.ids):
            raise ValueError(f"{path} does not hold the rows of train.parquet in the same order")
        logger.info("epoch %d reads %s", epoch, path)
        return data

    return read

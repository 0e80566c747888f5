"""Training checkpoints: written atomically, read with torch.load(weights_only=True).

A checkpoint is a dict of tensors and plain containers, numbers and strings only:

    format      "nmt-checkpoint/1"
    meta        model_config (ModelConfig as a dict), src_vocab, tgt_vocab, tokenizer_sha256,
                train_config (TrainConfig as a dict), step, epoch, valid (the latest validation)
    model       the model's state_dict
    optimizer   the optimizer's state_dict        (training checkpoints only)
    scheduler   nmt.train.schedule.LRSchedule state     (training checkpoints only)
    trainer     step, elapsed seconds, tokens, best score/step, validations without improvement
    data        the data position: epoch, batch
    rng         python / numpy / torch (/ cuda) generator states, as tensors

Inference needs `meta` and `model` only.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nmt.core.atomic import atomic_path, file_sha256
from nmt.core.rundir import RunDir
from nmt.model.bahdanau import Seq2Seq

FORMAT = "nmt-checkpoint/1"


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds pickled objects that weights_only loading refuses."""


def rng_state() -> dict[str, Any]:
    """The python, numpy and torch (and CUDA) generator states as tensors and numbers."""
    version, mt, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states saved by rng_state (loaded to any device)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    keys = npy["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write `checkpoint` (plus the format tag) to `path` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **checkpoint}, tmp)


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; anything pickled raises UnsafeCheckpointError.

    mmap: the tensors are mapped from the file, and read only where used."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path}: refusing to load a checkpoint that holds pickled objects: {exc}"
        ) from exc
    except (RuntimeError, EOFError) as exc:  # a file cut short: a full disk, a copy interrupted
        reason = str(exc).split(". ")[0]
        raise ValueError(f"{path}: damaged checkpoint (truncated?): {reason}; restore or delete it") from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path}: not an {FORMAT} checkpoint")
    return checkpoint


def find_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a run's model is read from: <run>/train/checkpoints/best.pt, else last.pt."""
    folder = RunDir(run_dir).train / "checkpoints"
    for name in ("best.pt", "last.pt"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: no best.pt or last.pt")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Seq2Seq, dict[str, Any]]:
    """Build the Seq2Seq a checkpoint describes and load its weights: (model in eval mode, meta).

    Only the model's tensors are read: a training checkpoint's optimizer state (twice the model with
    Adam) stays in the file, which is mapped. Loading a `base` run's checkpoint to translate peaked at
    429 MB read whole, at 359 MB mapped."""
    checkpoint = load_checkpoint(path, mmap=True)
    meta = checkpoint["meta"]
    model = Seq2Seq.described(meta)
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), meta


def checkpoint_id(ckpt: Path) -> str:
    """The model id of <run>/train/checkpoints/<file>: <run name>/<file>@<first 12 hex digits of sha256>."""
    return f"{ckpt.parents[2].name}/{ckpt.name}@{file_sha256(ckpt)[:12]}"

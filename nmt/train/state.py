"""The training state in checkpoints: what is saved, and resuming it with the settings checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmt.core.atomic import atomic_path
from nmt.model.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from nmt.train.config import RESUMABLE_FIELDS, TrainConfig
from nmt.train.progress import Progress

if TYPE_CHECKING:
    from nmt.train.trainer import Trainer

logger = logging.getLogger(__name__)


def meta(trainer: Trainer) -> dict[str, Any]:
    """What inference needs besides the weights (see nmt.model.checkpoint)."""
    p = trainer.progress
    return {
        "model_config": trainer.model.cfg.model_dump(),
        "src_vocab": trainer.model.src_vocab,
        "tgt_vocab": trainer.model.tgt_vocab,
        "output_vocab": trainer.model.output.out_features,
        "tokenizer_sha256": trainer.tokenizer.sha256,
        "train_config": trainer.cfg.model_dump(),
        "step": p.step,
        "epoch": p.position.epoch,
        "valid": dict(p.last_valid),
    }


def save_state(trainer: Trainer, path: Path) -> None:
    """Write the full training state to `path` atomically."""
    save_checkpoint(
        path,
        {
            "meta": meta(trainer),
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "scheduler": trainer.schedule.state_dict(),
            "trainer": trainer.progress.to_dict(),
            "data": trainer.progress.position.to_dict(),
            "rng": rng_state(),
        },
    )


def check_settings(path: Path, saved_meta: dict[str, Any], cfg: TrainConfig, tokenizer_sha256: str) -> None:
    """Refuse to resume a checkpoint written with other settings (RESUMABLE_FIELDS aside) or tokenizer.

    Fields added since the checkpoint count with their defaults; fields removed since are ignored.
    """
    fields = TrainConfig.model_fields
    saved = saved_meta["train_config"]
    kept = {k: v for k, v in saved.items() if k in fields and k not in RESUMABLE_FIELDS}
    for k, f in fields.items():
        if k not in kept and k not in RESUMABLE_FIELDS and not f.is_required():
            kept[k] = f.get_default(call_default_factory=True)
    current = {k: v for k, v in cfg.model_dump().items() if k not in RESUMABLE_FIELDS}
    if kept != current or saved_meta["tokenizer_sha256"] != tokenizer_sha256:
        changed = sorted(k for k in current if kept.get(k) != current[k])
        raise ValueError(
            f"{path} was written with other settings ({changed or ['tokenizer']}); "
            "train into a fresh out_dir or restore the settings"
        )


def resume_state(trainer: Trainer, path: Path) -> None:
    """Restore the full training state from `path` into `trainer`; settings must match."""
    checkpoint = load_checkpoint(path, map_location=trainer.device)
    check_settings(path, checkpoint["meta"], trainer.cfg, trainer.tokenizer.sha256)
    trainer.model.load_state_dict(checkpoint["model"])
    trainer.optimizer.load_state_dict(checkpoint["optimizer"])
    trainer.schedule.load_state_dict(checkpoint["scheduler"])
    trainer.progress = Progress.from_dict(checkpoint["trainer"], checkpoint["data"])
    set_rng_state(checkpoint["rng"])
    logger.info("resumed from %s at step %d", path, trainer.progress.step)


def trim_metrics(path: Path, step: int) -> None:
    """Drop metric lines of `path` written after `step` (they will be written again)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if json.loads(ln)["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

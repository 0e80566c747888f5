"""The training loop: steps until a stop condition, progress lines, validation, checkpoints, summary.

Every `valid_every` steps (and at the end) the model is validated on the dev split and the full
training state is written to checkpoints/last.pt (and copied to best.pt when the score
improved). Rank 0 validates and writes files; its results are broadcast, so every rank takes
the same decisions (best score, patience, learning-rate decay, the time budget).

metrics.jsonl has one line per validation: step, epoch, train_loss (per target token since the
previous validation), valid_loss, valid_bleu, lr, tokens_per_s, elapsed, best.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nmt.core.atomic import atomic_path
from nmt.core.rundir import run_languages
from nmt.model.bahdanau import count_parameters
from nmt.model.batching import TokenData
from nmt.train.progress import Window
from nmt.train.state import save_state
from nmt.train.trainer import Trainer
from nmt.train.validation import Validator

logger = logging.getLogger(__name__)


class Loop:
    """Runs a Trainer to its end, validating and checkpointing into `out_dir`."""

    def __init__(
        self,
        trainer: Trainer,
        out_dir: Path,
        on_validation: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.trainer, self.cfg, self.ddp = trainer, trainer.cfg, trainer.ddp
        self.on_validation = on_validation
        self.checkpoints = Path(out_dir) / "checkpoints"
        self.metrics_path = Path(out_dir) / "metrics.jsonl"
        if self.ddp.main:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        valid = TokenData.read(trainer.tokenize_dir / "valid.parquet")
        if self.cfg.valid_sentences is not None:
            valid = valid.head(self.cfg.valid_sentences)
        self.validate = Validator(
            valid,
            trainer.tokenizer,
            2 * self.cfg.batch_tokens,
            trainer.device,
            trainer.autocast,
            run_languages(trainer.tokenize_dir.parent)[1],  # the target language, for BLEU's tokenizer
        )

    def stop_reason(self, check_clock: bool) -> str | None:
        """Why training should stop before the next step, or None; the clock only if asked."""
        cfg, p = self.cfg, self.trainer.progress
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return "max_steps"
        if cfg.max_epochs is not None and p.position.epoch >= cfg.max_epochs:
            return "max_epochs"
        if cfg.patience is not None and p.bad_validations >= cfg.patience:
            return "early_stopping"
        # Every rank calls agree (a broadcast) at the same steps: check_clock is rank-independent.
        out_of_time = cfg.max_minutes is not None and check_clock
        if out_of_time and self.ddp.agree(p.elapsed >= 60 * cfg.max_minutes, self.trainer.device):
            return "time_budget"
        return None

    def run(self) -> dict[str, Any]:
        """Train until a stop condition; return the summary."""
        cfg, trainer = self.cfg, self.trainer
        p = trainer.progress
        resumed_from, elapsed_before, started = p.step, p.elapsed, time.monotonic()
        logger.info(
            "training %s (%d parameters) on %s, world %d, from step %d",
            cfg.preset,
            count_parameters(trainer.model),
            trainer.device,
            self.ddp.world,
            p.step,
        )
        log_window, valid_window = Window(trainer.device), Window(trainer.device)
        groups = trainer.stream.groups(p.position)
        # With several ranks the clock is compared (a broadcast) only at progress lines.
        while not (reason := self.stop_reason(self.ddp.world == 1 or p.step % cfg.log_every == 0)):
            group, after = next(groups)
            trainer.train_data = trainer.stream.data_of(trainer.stream.epoch)  # the epoch's sampled copy
            t0 = time.monotonic()
            loss, tokens = trainer.train_step(group)
            p.position = after
            p.train_seconds += time.monotonic() - t0
            p.elapsed = elapsed_before + time.monotonic() - started
            log_window.add(loss, tokens)
            valid_window.add(loss, tokens)
            if p.step % cfg.log_every == 0:
                self._log(log_window)
                log_window.reset()
            if p.step % cfg.valid_every == 0:
                self.validate_and_save(valid_window.mean_loss())
                valid_window.reset()
        if p.last_valid.get("step") != p.step:
            self.validate_and_save(valid_window.mean_loss())
        p.elapsed = elapsed_before + time.monotonic() - started
        return self.summary(reason, resumed_from)

    def _log(self, window: Window) -> None:
        """One progress line: loss, rates and ETA."""
        cfg, p = self.cfg, self.trainer.progress
        seconds = max(time.monotonic() - window.start, 1e-9)
        eta = ""
        if cfg.max_minutes is not None:
            eta = f" | time budget left {max(60 * cfg.max_minutes - p.elapsed, 0) / 60:.1f} min"
        elif cfg.max_steps is not None:
            eta = f" | ETA {(cfg.max_steps - p.step) * seconds / window.steps / 60:.1f} min"
        logger.info(
            "step %d | epoch %d batch %d | loss %.3f | lr %.3g | %.2f steps/s | %.0f tgt tok/s%s",
            p.step,
            p.position.epoch,
            p.position.batch,
            window.mean_loss() or 0.0,
            self.trainer.schedule.lr,
            window.steps / seconds,
            window.tokens * self.ddp.world / seconds,
            eta,
        )

    def validate_and_save(self, train_loss: float | None) -> None:
        """Validate (rank 0), update best/patience/decay on every rank, write metrics and checkpoints."""
        trainer, p = self.trainer, self.trainer.progress
        values = torch.zeros(2, device=trainer.device)
        if self.ddp.main:
            valid = self.validate(trainer.model)
            values = torch.tensor([valid["valid_loss"], valid["valid_bleu"]], device=trainer.device)
        self.ddp.broadcast(values)
        valid = {"valid_loss": float(values[0]), "valid_bleu": float(values[1])}
        score = valid["valid_bleu"] if self.cfg.best_metric == "bleu" else -valid["valid_loss"]
        improved = p.validated(valid, score)
        trainer.schedule.validated(improved)
        if not self.ddp.main:
            return
        record = {
            "step": p.step,
            "epoch": p.position.epoch,
            "train_loss": train_loss,
            **valid,
            "lr": trainer.schedule.lr,
            "tokens_per_s": p.tokens / max(p.train_seconds, 1e-9),
            "elapsed": round(p.elapsed, 3),
            "best": improved,
        }
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        logger.info(
            "validation at step %d: loss %.4f, BLEU %.2f%s",
            p.step,
            valid["valid_loss"],
            valid["valid_bleu"],
            " (best)" if improved else "",
        )
        last = self.checkpoints / "last.pt"
        save_state(trainer, last)
        if improved:
            with atomic_path(self.checkpoints / "best.pt") as tmp:
                shutil.copyfile(last, tmp)
        if self.on_validation is not None:
            self.on_validation(record)

    def summary(self, reason: str | None, resumed_from: int) -> dict[str, Any]:
        """The stage summary (JSON-serialisable)."""
        trainer, p = self.trainer, self.trainer.progress
        best, last = p.best_valid, p.last_valid
        return {
            "steps": p.step,
            "epochs": p.position.epoch,
            "stopped": reason,
            "resumed_from_step": resumed_from,
            "seconds": round(p.elapsed, 3),
            "train_seconds": round(p.train_seconds, 3),
            "target_tokens": p.tokens,
            "tokens_per_s": round(p.tokens / max(p.train_seconds, 1e-9), 1),
            "params": count_parameters(trainer.model),
            "device": str(trainer.device),
            "world_size": self.ddp.world,
            "guided_alignment": trainer.guidance_summary(),
            "valid_loss": last.get("valid_loss"),
            "valid_bleu": last.get("valid_bleu"),
            "best_valid_loss": best.get("valid_loss"),
            "best_valid_bleu": best.get("valid_bleu"),
            "best_step": p.best_step,
            "checkpoints": {
                "last": str(self.checkpoints / "last.pt"),
                "best": str(self.checkpoints / "best.pt"),
            },
            "metrics": str(self.metrics_path),
        }

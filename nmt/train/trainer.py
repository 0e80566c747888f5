"""The train stage: fit a Seq2Seq on the token shards, validate, checkpoint, resume.

One optimizer step reads `accum_steps` token-budget batches on each of `world` processes (a
group of consecutive batches of the epoch's plan, see nmt.model.batching). The loss is the summed
token cross-entropy divided by the target tokens of the whole group, so a step gives the same
update whether the group runs in one process with accumulation or across DDP ranks.

Inside the step loop nothing waits for the device: token counts come from the host-side plan,
the running loss stays a device tensor and is read only when a progress line is logged.

Every `valid_every` steps (and at the end) the model is validated on the dev split (loss and
sacrebleu BLEU of batched greedy output) and the full training state is written to
checkpoints/last.pt (and best.pt when the score improved). A rerun with the same out_dir
resumes from last.pt and ends with the same parameters as an uninterrupted run (CPU, same
number of threads).

Started by torchrun (WORLD_SIZE > 1) it trains with DistributedDataParallel: gloo on CPU,
nccl on CUDA; rank 0 validates and writes files, and its decisions are broadcast:

    torchrun --standalone --nproc-per-node 2 -m nmt.train TOKENIZE_DIR OUT_DIR --config cfg.json

Speed options: `bf16` autocasts to bfloat16 (CPU too); `compile` wraps the model in
torch.compile, which compiles once per target length (the decoder loop is unrolled), so it
pays off only on long runs.

Subword regularization (`subword_sampling=True`, off by default): epoch e trains on
`sampled/train-<e % K>.parquet` of the tokenize directory instead of train.parquet, K subword-
sampled segmentations of the same train rows (same ids, same order). Turn it on by tokenizing
with `TokenizeConfig(sampled_copies=K)` (K >= 1; alpha/nbest in sampling_alpha/sampling_nbest)
and training with `TrainConfig(subword_sampling=True)`; training refuses to start, naming the
folder, when the copies are missing. Validation keeps the best segmentation (valid.parquet).
Resume stays exact: an epoch's copy and plan follow from the saved (epoch, batch) position.

metrics.jsonl has one line per validation: step, epoch, train_loss (per target token since the
previous validation), valid_loss, valid_bleu, lr, tokens_per_s, elapsed, best.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sacrebleu
import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from nmt.core.atomic import atomic_path, write_json
from nmt.core.device import resolve_device
from nmt.model.bahdanau import Seq2Seq, count_parameters, sequence_loss
from nmt.model.batching import BatchStream, DataPosition, TokenData, make_batch, plan_sorted
from nmt.model.checkpoint import (
    average_checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from nmt.model.config import ModelConfig, preset
from nmt.model.search import greedy, length_limit
from nmt.text.tokenization import SAMPLED_DIR, Tokenizer
from nmt.train.schedule import LRSchedule

logger = logging.getLogger(__name__)

# Settings that may differ when a run is resumed; every other setting must match.
RESUMABLE_FIELDS = {
    "max_steps",
    "max_epochs",
    "max_minutes",
    "patience",
    "device",
    "num_threads",
    "log_every",
    "compile",
}


class TrainConfig(BaseModel):
    """Everything that decides how a model is trained."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field("base", description="model preset (nmt.model.config.PRESETS)")
    model: dict[str, Any] = Field(default_factory=dict, description="ModelConfig overrides")
    batch_tokens: int = Field(4096, gt=0, description="padded tokens per batch (max side)")
    accum_steps: int = Field(1, ge=1, description="batches accumulated per optimizer step")
    optimizer: Literal["adam", "adadelta"] = "adam"
    lr: float | None = Field(None, gt=0, description="default: adam 1e-3, adadelta 1.0")
    clip: float | None = Field(1.0, gt=0, description="max gradient norm; None: no clipping")
    warmup_steps: int = Field(0, ge=0, description="linear learning-rate warm-up")
    decay_factor: float = Field(0.5, gt=0, le=1, description="plateau decay factor")
    decay_patience: int = Field(0, ge=0, description="validations w/o improvement; 0: no decay")
    min_lr: float = Field(0.0, ge=0)
    max_steps: int | None = Field(None, ge=0)
    max_epochs: int | None = Field(10, ge=0)
    max_minutes: float | None = Field(None, gt=0, description="time budget, validation included")
    valid_every: int = Field(500, gt=0, description="steps between validations")
    valid_sentences: int | None = Field(None, gt=0, description="validate on the first N only")
    best_metric: Literal["bleu", "loss"] = "bleu"
    patience: int | None = Field(None, gt=0, description="stop after N validations w/o gain")
    average_last: int = Field(0, ge=0, description="average the last N validated models")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    seed: int = 1
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool = Field(False, description="bfloat16 autocast (CPU and CUDA)")
    compile: bool = Field(False, description="torch.compile the model for training")
    num_threads: int | None = Field(None, gt=0, description="CPU threads; default all cores")
    log_every: int = Field(100, gt=0, description="steps between progress lines")
    subword_sampling: bool = Field(
        False, description="epoch e reads sampled/train-<e % K>.parquet (tokenize sampled_copies=K)"
    )

    @model_validator(mode="after")
    def _check_model(self) -> TrainConfig:
        self.architecture()
        return self

    def architecture(self) -> ModelConfig:
        """The ModelConfig: the preset with the overrides applied."""
        return ModelConfig(**{**preset(self.preset).model_dump(), **self.model})

    def learning_rate(self) -> float:
        """The base learning rate (the optimizer's default when lr is unset)."""
        return self.lr if self.lr is not None else {"adam": 1e-3, "adadelta": 1.0}[self.optimizer]


@dataclass
class Progress:
    """Counters saved in checkpoints (the `trainer` and `data` entries)."""

    step: int = 0
    position: DataPosition = field(default_factory=DataPosition)
    elapsed: float = 0.0  # seconds, validation included, summed over resumes
    train_seconds: float = 0.0  # seconds inside training steps
    tokens: int = 0  # target tokens trained on (all ranks)
    best_score: float | None = None  # higher is better: BLEU or -loss
    best_step: int = 0
    bad_validations: int = 0
    last_valid: dict[str, float] = field(default_factory=dict)
    best_valid: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints; the position is saved on its own (the `data` entry)."""
        return {k: v for k, v in self.__dict__.items() if k != "position"}

    @classmethod
    def from_dict(cls, d: dict[str, Any], position: dict[str, int]) -> Progress:
        """Inverse of to_dict."""
        return cls(**d, position=DataPosition.from_dict(position))


class Window:
    """Training loss and target tokens summed since the last reset; the loss stays on the device."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.reset()

    def reset(self) -> None:
        """Start a new window now."""
        self.loss.zero_()
        self.tokens, self.steps, self.start = 0, 0, time.monotonic()

    def add(self, loss: Tensor, tokens: int) -> None:
        """Count one step's summed loss (device tensor) and its target tokens."""
        self.loss += loss
        self.tokens += tokens
        self.steps += 1

    def mean_loss(self) -> float | None:
        """Loss per target token (waits for the device), None for an empty window."""
        return float(self.loss) / self.tokens if self.tokens else None


@dataclass(frozen=True)
class Distributed:
    """This process's place among torchrun's processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        """Read RANK / WORLD_SIZE / LOCAL_RANK set by torchrun (a single process otherwise)."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """Adam, or Adadelta with the paper's rho=0.95, eps=1e-6."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate())
    return torch.optim.Adadelta(params, lr=cfg.learning_rate(), rho=0.95, eps=1e-6)


class Trainer:
    """Holds the model, optimizer, data and counters of one training run."""

    def __init__(
        self,
        tokenize_dir: Path,
        cfg: TrainConfig,
        out_dir: Path,
        ddp: Distributed,
        on_validation: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.cfg, self.out_dir, self.ddp = cfg, out_dir, ddp
        self.on_validation = on_validation
        self.device = resolve_device(cfg.device, ddp.local_rank)
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.num_threads or max(1, (os.cpu_count() or 1) // ddp.world))
        self.tokenizer = Tokenizer.load(tokenize_dir)
        self.train_data = TokenData.read(Path(tokenize_dir) / "train.parquet")
        valid = TokenData.read(Path(tokenize_dir) / "valid.parquet")
        if cfg.valid_sentences is not None and cfg.valid_sentences < len(valid):
            valid = TokenData.from_lists(
                [valid.src(i).tolist() for i in range(cfg.valid_sentences)],
                [valid.tgt(i).tolist() for i in range(cfg.valid_sentences)],
            )
        self.valid_data = valid
        self.references = self.tokenizer.decode_tgt([valid.tgt(i).tolist() for i in range(len(valid))])

        torch.manual_seed(cfg.seed)
        self.model = Seq2Seq(
            cfg.architecture(), self.tokenizer.src_vocab_size, self.tokenizer.tgt_vocab_size
        ).to(self.device)
        self.train_model: torch.nn.Module = self.model
        if ddp.world > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=device_ids)
        if cfg.compile:
            self.train_model = torch.compile(self.train_model, dynamic=True)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.schedule = LRSchedule(
            self.optimizer,
            cfg.learning_rate(),
            cfg.warmup_steps,
            cfg.decay_factor,
            cfg.decay_patience,
            cfg.min_lr,
        )
        epoch_data = sampled_epochs(Path(tokenize_dir), self.train_data) if cfg.subword_sampling else None
        self.stream = BatchStream(
            self.train_data,
            cfg.batch_tokens,
            cfg.seed,
            group=ddp.world * cfg.accum_steps,
            epoch_data=epoch_data,
        )
        self.progress = Progress()
        self.checkpoints = out_dir / "checkpoints"
        self.metrics_path = out_dir / "metrics.jsonl"
        self.autocast = torch.autocast(self.device.type, torch.bfloat16, enabled=cfg.bf16)

    # -- state ------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """What inference needs besides the weights (see nmt.model.checkpoint)."""
        return {
            "model_config": self.model.cfg.model_dump(),
            "src_vocab": self.model.src_vocab,
            "tgt_vocab": self.model.tgt_vocab,
            "tokenizer_sha256": self.tokenizer.sha256,
            "train_config": self.cfg.model_dump(),
            "step": self.progress.step,
            "epoch": self.progress.position.epoch,
            "valid": dict(self.progress.last_valid),
        }

    def save(self, path: Path) -> None:
        """Write the full training state to `path` atomically."""
        save_checkpoint(
            path,
            {
                "meta": self.meta(),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.schedule.state_dict(),
                "trainer": self.progress.to_dict(),
                "data": self.progress.position.to_dict(),
                "rng": rng_state(),
            },
        )

    def resume(self, path: Path) -> None:
        """Restore the full training state from `path`; settings must match (RESUMABLE_FIELDS aside)."""
        checkpoint = load_checkpoint(path, map_location=self.device)
        meta = checkpoint["meta"]
        saved = {k: v for k, v in meta["train_config"].items() if k not in RESUMABLE_FIELDS}
        for k, f in TrainConfig.model_fields.items():  # fields added since: their defaults
            if k not in saved and k not in RESUMABLE_FIELDS and not f.is_required():
                saved[k] = f.get_default(call_default_factory=True)
        current = {k: v for k, v in self.cfg.model_dump().items() if k not in RESUMABLE_FIELDS}
        if saved != current or meta["tokenizer_sha256"] != self.tokenizer.sha256:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            raise ValueError(
                f"{path} was written with other settings ({changed or ['tokenizer']}); "
                "train into a fresh out_dir or restore the settings"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.schedule.load_state_dict(checkpoint["scheduler"])
        self.progress = Progress.from_dict(checkpoint["trainer"], checkpoint["data"])
        set_rng_state(checkpoint["rng"])
        self._trim_metrics()
        logger.info("resumed from %s at step %d", path, self.progress.step)

    def _trim_metrics(self) -> None:
        """Drop metric lines written after the checkpoint (they will be written again)."""
        if not (self.ddp.main and self.metrics_path.exists()):
            return
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if json.loads(ln)["step"] <= self.progress.step]
        with atomic_path(self.metrics_path) as tmp:
            tmp.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

    # -- one step ---------------------------------------------------------------------------

    def train_step(self, group: list[np.ndarray]) -> tuple[Tensor, int]:
        """One optimizer step on this rank's share of `group`: (summed loss tensor, its tokens)."""
        cfg, ddp = self.cfg, self.ddp
        mine = group[ddp.rank * cfg.accum_steps : (ddp.rank + 1) * cfg.accum_steps]
        group_tokens = sum(int(self.train_data.tgt_lens[i].sum()) + len(i) for i in group)
        self.train_model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        tokens = 0
        for k, index in enumerate(mine):
            batch = make_batch(self.train_data, index).to(self.device)
            last = k == len(mine) - 1
            sync = contextlib.nullcontext() if last or ddp.world == 1 else self._ddp_module().no_sync()
            with sync:
                with self.autocast:
                    logits, _ = self.train_model(batch.src, batch.src_len, batch.tgt_in)
                loss = sequence_loss(logits, batch.tgt_out, cfg.label_smoothing)  # summed
                # DDP averages gradients over ranks; scale so the step sees sum / group tokens.
                (loss * (ddp.world / group_tokens)).backward()
            loss_sum += loss.detach()
            tokens += batch.n_tgt_tokens
        if cfg.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self.optimizer.step()
        self.progress.step += 1
        self.progress.tokens += group_tokens
        self.schedule.step(self.progress.step)
        return loss_sum, tokens

    def _ddp_module(self) -> DistributedDataParallel:
        module = self.train_model
        return module._orig_mod if hasattr(module, "_orig_mod") else module

    # -- validation -------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Teacher-forced loss per target token and BLEU of batched greedy output on dev."""
        model = self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        tokens = 0
        hyps: list[list[int]] = [[] for _ in range(len(self.valid_data))]
        for index in plan_sorted(self.valid_data, 2 * self.cfg.batch_tokens):
            batch = make_batch(self.valid_data, index).to(self.device)
            with self.autocast:
                logits, _ = model(batch.src, batch.src_len, batch.tgt_in)
                outputs = greedy(model, batch.src, batch.src_len, length_limit(batch.src_len))
            loss_sum += sequence_loss(logits, batch.tgt_out)
            tokens += batch.n_tgt_tokens
            for row, i in enumerate(index):
                hyps[i] = outputs[row][0].tokens
        bleu = sacrebleu.corpus_bleu(self.tokenizer.decode_tgt(hyps), [self.references])
        return {"valid_loss": float(loss_sum) / max(tokens, 1), "valid_bleu": bleu.score}

    def score(self, valid: dict[str, float]) -> float:
        """The early-stopping score, higher is better."""
        return valid["valid_bleu"] if self.cfg.best_metric == "bleu" else -valid["valid_loss"]

    # -- the loop ---------------------------------------------------------------------------

    def stop_reason(self, check_clock: bool) -> str | None:
        """Why training should stop before the next step, or None; the clock only if asked."""
        cfg, p = self.cfg, self.progress
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return "max_steps"
        if cfg.max_epochs is not None and p.position.epoch >= cfg.max_epochs:
            return "max_epochs"
        if cfg.patience is not None and p.bad_validations >= cfg.patience:
            return "early_stopping"
        # Every rank calls _agree (a broadcast) at the same steps: check_clock is rank-independent.
        if cfg.max_minutes is not None and check_clock and self._agree(p.elapsed >= 60 * cfg.max_minutes):
            return "time_budget"
        return None

    def _agree(self, flag: bool) -> bool:
        """Rank 0's flag on every rank (every rank's clock differs)."""
        if self.ddp.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def run(self) -> dict[str, Any]:
        """Train until a stop condition; return the summary."""
        cfg, p = self.cfg, self.progress
        resumed_from, elapsed_before, started = p.step, p.elapsed, time.monotonic()
        logger.info(
            "training %s (%d parameters) on %s, world %d, from step %d",
            cfg.preset,
            count_parameters(self.model),
            self.device,
            self.ddp.world,
            p.step,
        )
        log_window, valid_window = Window(self.device), Window(self.device)
        groups = self.stream.groups(p.position)
        # With several ranks the clock is compared (a broadcast) only at progress lines.
        while not (reason := self.stop_reason(self.ddp.world == 1 or p.step % cfg.log_every == 0)):
            group, after = next(groups)
            self.train_data = self.stream.data_of(self.stream.epoch)  # the epoch's sampled copy
            t0 = time.monotonic()
            loss, tokens = self.train_step(group)
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
        averaged = self.average() if cfg.average_last and self.ddp.main else None
        return self.summary(reason, resumed_from, averaged)

    def _log(self, window: Window) -> None:
        """One progress line: loss, rates and ETA."""
        cfg, p = self.cfg, self.progress
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
            self.schedule.lr,
            window.steps / seconds,
            window.tokens * self.ddp.world / seconds,
            eta,
        )

    def validate_and_save(self, train_loss: float | None) -> None:
        """Validate (rank 0), update best/patience/decay on every rank, write metrics and checkpoints."""
        p = self.progress
        if self.ddp.main:
            valid = self.validate()
            values = torch.tensor([valid["valid_loss"], valid["valid_bleu"]], device=self.device)
        else:
            values = torch.zeros(2, device=self.device)
        if self.ddp.world > 1:
            dist.broadcast(values, src=0)
        valid = {"valid_loss": float(values[0]), "valid_bleu": float(values[1])}
        score = self.score(valid)
        improved = p.best_score is None or score > p.best_score
        self.schedule.validated(improved)
        p.bad_validations = 0 if improved else p.bad_validations + 1
        p.last_valid = {"step": p.step, **valid}
        if improved:
            p.best_score, p.best_step, p.best_valid = score, p.step, dict(p.last_valid)
        if not self.ddp.main:
            return
        record = {
            "step": p.step,
            "epoch": p.position.epoch,
            "train_loss": train_loss,
            **valid,
            "lr": self.schedule.lr,
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
        self.save(last)
        if improved:
            with atomic_path(self.checkpoints / "best.pt") as tmp:
                shutil.copyfile(last, tmp)
        if self.cfg.average_last:
            self._keep_for_averaging()
        if self.on_validation is not None:
            self.on_validation(record)

    def _keep_for_averaging(self) -> None:
        """Keep this step's weights as step-<n>.pt; drop all but the newest average_last."""
        save_checkpoint(
            self.checkpoints / f"step-{self.progress.step:08d}.pt",
            {"meta": self.meta(), "model": self.model.state_dict()},
        )
        for old in sorted(self.checkpoints.glob("step-*.pt"))[: -self.cfg.average_last]:
            old.unlink()

    def average(self) -> Path:
        """Write checkpoints/averaged.pt, the mean of the last `average_last` validated models."""
        paths = sorted(self.checkpoints.glob("step-*.pt"))[-self.cfg.average_last :]
        path = self.checkpoints / "averaged.pt"
        save_checkpoint(path, average_checkpoints(paths))
        return path

    def summary(self, reason: str | None, resumed_from: int, averaged: Path | None) -> dict:
        """The stage summary (JSON-serialisable)."""
        p = self.progress
        best, last = p.best_valid, p.last_valid
        summary = {
            "steps": p.step,
            "epochs": p.position.epoch,
            "stopped": reason,
            "resumed_from_step": resumed_from,
            "seconds": round(p.elapsed, 3),
            "train_seconds": round(p.train_seconds, 3),
            "target_tokens": p.tokens,
            "tokens_per_s": round(p.tokens / max(p.train_seconds, 1e-9), 1),
            "params": count_parameters(self.model),
            "device": str(self.device),
            "world_size": self.ddp.world,
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
        if averaged is not None:
            summary["checkpoints"]["averaged"] = str(averaged)
        return summary


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


def run_train(
    tokenize_dir: Path,
    cfg: TrainConfig,
    out_dir: Path,
    on_validation: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume training) into out_dir; return the summary (see module docstring).

    `on_validation` receives each metrics.jsonl record as it is written (rank 0 only).
    """
    tokenize_dir, out_dir = Path(tokenize_dir), Path(out_dir)
    ddp = Distributed.from_env()
    started_group = ddp.world > 1 and not dist.is_initialized()
    if started_group:
        backend = "nccl" if resolve_device(cfg.device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
    try:
        trainer = Trainer(tokenize_dir, cfg, out_dir, ddp, on_validation)
        last = out_dir / "checkpoints" / "last.pt"
        if last.exists():
            trainer.resume(last)
        if ddp.main:
            write_json(
                out_dir / "config.json",
                {
                    **cfg.model_dump(),
                    "resolved_model": trainer.model.cfg.model_dump(),
                    "src_vocab": trainer.model.src_vocab,
                    "tgt_vocab": trainer.model.tgt_vocab,
                    "tokenizer_sha256": trainer.tokenizer.sha256,
                    "world_size": ddp.world,
                },
            )
        summary = trainer.run()
    finally:
        if started_group:
            # Tear down together: a rank leaving while rank 0 still writes its checkpoint made
            # gloo abort the early rank ("terminate called without an active exception").
            dist.barrier()
            dist.destroy_process_group()
    return summary


def main(argv: list[str] | None = None) -> None:
    """`python -m nmt.train` (or `torchrun ... -m nmt.train`): train with a JSON TrainConfig."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nmt.train", description=main.__doc__)
    parser.add_argument("tokenize_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--config", type=Path, help="TrainConfig as JSON (default: defaults)")
    parser.add_argument("--max-minutes", type=float, help="time budget (overrides the config)")
    parser.add_argument("--max-steps", type=int, help="step limit (overrides the config)")
    args = parser.parse_args(argv)
    cfg = TrainConfig.model_validate_json(args.config.read_text()) if args.config else TrainConfig()
    overrides = {"max_minutes": args.max_minutes, "max_steps": args.max_steps}
    cfg = TrainConfig.model_validate(
        {**cfg.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    summary = run_train(args.tokenize_dir, cfg, args.out_dir)
    if Distributed.from_env().main:
        print(json.dumps(summary, indent=2))

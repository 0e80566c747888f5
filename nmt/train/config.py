"""TrainConfig: every setting that decides how a model is trained, and the optimizer it names."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nmt.align.guidance import GuideColumn
from nmt.core.device import resolve_device
from nmt.model.config import ModelConfig, preset

# The guided-alignment weight by default, chosen by benchmarks/guided.py (800 steps of `small`):
# 0.1 took Hansards attention AER from 0.722 to 0.668 (en->fr) with Multi30k test2016 BLEU 29.68
# against 29.11 unguided; 0.5 gained no more AER (0.665) and cost 2.75 BLEU.
GUIDED_WEIGHT = 0.1

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
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    seed: int = 1
    device: str = Field(
        "auto", description="auto, cpu, cuda (under torchrun: each process its own GPU), cuda:N, ..."
    )
    bf16: bool = Field(
        False,
        description="CUDA: bfloat16 autocast; CPU: the decoder's and output layer's products in bfloat16, "
        "the rest fp32 (faster only on CPUs with AMX)",
    )
    compile: bool = Field(False, description="torch.compile the model for training")
    num_threads: int | None = Field(None, gt=0, description="CPU threads; default all cores")
    log_every: int = Field(100, gt=0, description="steps between progress lines")
    subword_sampling: bool = Field(
        False, description="epoch e reads sampled/train-<e % K>.parquet (tokenize sampled_copies=K)"
    )
    output_vocabulary: Literal["full", "target"] = Field(
        "full",
        description="full: the output layer scores every target piece; target: only the pieces that occur "
        "in the training targets (of a joint vocabulary, the target language's: Multi30k en 3,896 of 8,000), "
        "1.10x faster training, lower loss per step, and less effect of guided alignment on the attention "
        "at the same weight. tie_embeddings and subword_sampling use full",
    )
    guided_alignment: float = Field(
        GUIDED_WEIGHT,
        ge=0,
        description="weight of the guided-alignment loss (needs the align stage's links); 0: off",
    )
    guided_links: GuideColumn = Field(
        "intersection", description="which of the align stage's links guide the attention"
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, name: str) -> str:
        try:
            resolve_device(name)
        except RuntimeError as exc:
            raise ValueError(f"device {name!r} is not a torch device (auto, cpu, cuda, cuda:N, ...)") from exc
        return name

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


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """Adam (fused: one pass over each parameter), or Adadelta with the paper's rho=0.95, eps=1e-6."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate(), fused=True)
    return torch.optim.Adadelta(params, lr=cfg.learning_rate(), rho=0.95, eps=1e-6)

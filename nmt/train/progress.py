"""Training counters: the progress saved in checkpoints and the loss window of progress lines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from nmt.model.batching import DataPosition


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

    def validated(self, valid: dict[str, float], score: float) -> bool:
        """Record a validation at this step (score: higher is better); return whether it improved."""
        improved = self.best_score is None or score > self.best_score
        self.bad_validations = 0 if improved else self.bad_validations + 1
        self.last_valid = {"step": self.step, **valid}
        if improved:
            self.best_score, self.best_step, self.best_valid = score, self.step, dict(self.last_valid)
        return improved


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

"""Learning-rate schedule: linear warm-up, then decay on a validation plateau."""

from __future__ import annotations

from torch.optim import Optimizer


class LRSchedule:
    """Sets the optimizer's learning rate: base x decay x warm-up ramp.

    Warm-up ramps linearly over the first `warmup_steps` steps. After `patience` validations
    in a row without improvement the rate is multiplied by `factor` (never below `min_lr`);
    patience 0 switches the decay off.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float,
        warmup_steps: int = 0,
        factor: float = 0.5,
        patience: int = 0,
        min_lr: float = 0.0,
    ):
        self.optimizer = optimizer
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.factor = factor
        self.patience = patience
        self.min_lr = min_lr
        self.decay = 1.0
        self.bad = 0
        self.lr = base_lr
        self.step(0)

    def step(self, step: int) -> None:
        """Set the rate for optimizer step number `step` (0-based)."""
        ramp = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        self.lr = max(self.min_lr, self.base_lr * self.decay) * ramp
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def validated(self, improved: bool) -> None:
        """Record one validation; decay the rate after `patience` without improvement."""
        self.bad = 0 if improved else self.bad + 1
        if self.patience and self.bad >= self.patience:
            self.decay *= self.factor
            self.bad = 0

    def state_dict(self) -> dict[str, float | int]:
        """Plain numbers for checkpoints."""
        return {"decay": self.decay, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of state_dict."""
        self.decay = float(state["decay"])
        self.bad = int(state["bad"])

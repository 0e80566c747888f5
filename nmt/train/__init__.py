"""The train stage: the training loop, its learning-rate schedule, checkpoints and resume."""

from nmt.train.trainer import TrainConfig, Trainer, run_train

__all__ = ["TrainConfig", "Trainer", "run_train"]

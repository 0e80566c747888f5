"""The train stage: the training loop, its learning-rate schedule, checkpoints and resume."""

from nmt.train.config import TrainConfig
from nmt.train.loop import Loop
from nmt.train.run import run_train
from nmt.train.trainer import Trainer

__all__ = ["Loop", "TrainConfig", "Trainer", "run_train"]

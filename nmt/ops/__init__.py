"""Operations over the pipeline: the model registry, retrain with promotion, the inbox, deployment recipes."""

from nmt.ops.inbox import InboxConfig, run_inbox
from nmt.ops.registry import Registry
from nmt.ops.retrain import run_retrain

__all__ = ["InboxConfig", "Registry", "run_inbox", "run_retrain"]

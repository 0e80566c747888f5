"""Choosing the torch device from a setting."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import AfterValidator


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' is CUDA when present, else CPU; each torchrun process takes its own GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(f"cuda:{local_rank}") if name == "cuda" else torch.device(name)


def check_device(name: str) -> str:
    """`name` unchanged if resolve_device accepts it ("auto", "cpu", "cuda", "cuda:1", "mps", ...)."""
    try:
        resolve_device(name)
    except RuntimeError as exc:
        raise ValueError(f"not a torch device: {name!r} (auto, cpu, cuda, cuda:N, ...)") from exc
    return name


DeviceName = Annotated[str, AfterValidator(check_device)]

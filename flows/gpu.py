"""The GPU guard: a slot of the global concurrency limit "gpu" around work that runs on a CUDA device.

Create the limit once per server (`prefect gcl create gpu --limit 1`: one GPU job at a time).
Where it does not exist (ephemeral runs, tests) Prefect skips it with a warning instead of
failing (strict=False), so the same flows run with or without a server. Work on the CPU (or any
other device) takes no slot: CPU shards on threads or Dask run side by side under that limit.
"""

from contextlib import AbstractContextManager, nullcontext

from prefect.concurrency.sync import concurrency

from nmt.core.device import resolve_device

GPU_LIMIT = "gpu"


def gpu_slot(device: str) -> AbstractContextManager:
    """Hold one slot of the "gpu" limit for a with-block when `device` resolves to CUDA; else nothing."""
    if resolve_device(device).type != "cuda":
        return nullcontext()
    return concurrency(GPU_LIMIT, occupy=1, strict=False)

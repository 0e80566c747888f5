"""The GPU guard: a slot of the global concurrency limit "gpu" around training and translation.

Create the limit once per server (`prefect gcl create gpu --limit 1`: one GPU job at a time).
Where it does not exist (ephemeral runs, tests) Prefect skips it with a warning instead of
failing (strict=False), so the same flows run with or without a server.
"""

from prefect.concurrency.sync import concurrency

GPU_LIMIT = "gpu"


def gpu_slot():
    """Hold one slot of the "gpu" limit for the duration of a with-block."""
    return concurrency(GPU_LIMIT, occupy=1, strict=False)

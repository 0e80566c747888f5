"""The CPU cores this process may use, and why `import nmt` shortens OpenMP's spin-wait.

torch's CPU kernels run on GNU OpenMP (libgomp). Its idle threads spin for 300,000 rounds by
default before sleeping, which on a machine another process shares turns every wait at the end
of a parallel region into lost time slices. benchmarks/threads.py (`base`, 2 cores): one training
run alone makes 4,336 target tokens/s, two at once 314 each. With a spin of 10,000 rounds: 4,170
alone (0.96x) and about 1,390 each (4.4x); with none (OMP_WAIT_POLICY=PASSIVE) 3,067 alone and
about 2,100 each. libgomp reads the setting once, when torch loads, so nmt/__init__.py sets
GOMP_SPINCOUNT (unless the user chose it or OMP_WAIT_POLICY) before any nmt module imports
torch; child processes inherit it. Two processes that each use every core still share them
badly: give each `num_threads` (training) or `threads` (translate) to split the cores.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores in this process's CPU affinity mask (taskset, cpusets), else the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1

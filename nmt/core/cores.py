"""The CPU cores this process may use, and how long idle OpenMP threads spin before they sleep.

torch's CPU kernels run on GNU OpenMP (libgomp). Its idle threads spin for 300,000 rounds by
default before sleeping, which on a machine another process shares turns every wait at the end
of a parallel region into lost time slices. benchmarks/threads.py (`base`, 2 cores): one training
run alone makes 4,336 target tokens/s, two at once 314 each. With a spin of 10,000 rounds: 4,170
alone (0.96x) and about 1,390 each (4.4x); with none (OMP_WAIT_POLICY=PASSIVE) 3,067 alone and
about 2,100 each. libgomp reads the setting once, when torch loads, so `import nmt` sets it
(unless the user chose GOMP_SPINCOUNT or OMP_WAIT_POLICY) before any of its modules imports
torch; child processes inherit it.
"""

from __future__ import annotations

import os

SPIN_COUNT = 10_000  # libgomp spin rounds before an idle thread sleeps (its default: 300,000)


def usable_cores() -> int:
    """The cores in this process's CPU affinity mask (taskset, cpusets), else the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def limit_spin_wait() -> None:
    """Set GOMP_SPINCOUNT to SPIN_COUNT unless the user set it or OMP_WAIT_POLICY (read when torch loads)."""
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)

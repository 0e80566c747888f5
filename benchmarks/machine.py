"""The machine a benchmark ran on, as every result file names it."""

from __future__ import annotations

import platform
import resource
from pathlib import Path


def cpu_model() -> str:
    """lscpu's model name of this machine's processor (from /proc/cpuinfo; elsewhere the platform's)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: /proc/self/status's VmHWM where there is one.

    getrusage's maxrss is not this process's own: exec keeps the larger of it and the size of the process
    it replaced, so a child started by a benchmark that holds 500 MB reports at least 500 MB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

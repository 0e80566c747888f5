"""The machine a benchmark ran on, as every result file names it."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """lscpu's model name of this machine's processor (from /proc/cpuinfo; elsewhere the platform's)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()

"""The CPU kernels built for the vector widths of other machines: the kernels' tests pass in each.

nmt.model.native builds the kernels for the width torch runs at (AVX512, AVX2 or DEFAULT, the portable
scalar code), so a machine without AVX-512 runs code that the rest of the suite, on this one, never builds.
ATEN_CPU_CAPABILITY sets the width torch runs at: each width below that this CPU can run, other than its
own, is built (once per machine, about 40 s, beside this width's build) and its kernels' tests run in it.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
KERNEL_TESTS = [
    "test_native.py",
    "test_decode.py",
    "test_decoder_sequence.py",
    "test_gru_sequence.py",
    "test_output_loss.py",
]
NEEDS = {"AVX2": {"avx2", "fma"}, "DEFAULT": set()}  # the CPU flags a width's code uses


def cpu_flags() -> set[str]:
    """This CPU's feature flags (/proc/cpuinfo), empty where that file is absent."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    return {flag for line in lines if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def at_width(width: str, *args: str) -> subprocess.CompletedProcess:
    """Python run with torch at the given vector width, from the project's root."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": width.lower()}
    command = [sys.executable, *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize("width", sorted(NEEDS))
def test_the_kernels_pass_their_tests_at_another_vector_width(width):
    if width == torch.backends.cpu.get_cpu_capability():
        pytest.skip(f"{width} is this machine's own width: the rest of the suite builds and tests it")
    if not NEEDS[width] <= cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(NEEDS[width] - cpu_flags())}, which {width} code needs")
    probe = "import torch; from nmt.model import native; k = native.kernels(); "
    probe += "print(torch.backends.cpu.get_cpu_capability(), k and Path(k.__file__).stem)"
    built = at_width(width, "-c", "from pathlib import Path; " + probe)
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.split() == [width, f"nmt_kernels_{width.lower()}"], built.stderr[-3000:]
    tests = [str(ROOT / "tests" / name) for name in KERNEL_TESTS]
    run = at_width(width, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests)
    assert run.returncode == 0, f"the kernels' tests failed at {width}:\n{run.stdout[-4000:]}"
    assert " passed" in run.stdout.splitlines()[-1]

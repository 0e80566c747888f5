"""CPU cores and OpenMP's spin-wait: what `import nmt` sets before torch loads, and the affinity mask."""

import os
import shutil
import subprocess
import sys

import pytest

SHOW = "import nmt, os, torch; print(os.environ.get('GOMP_SPINCOUNT'), torch.get_num_threads())"


def run(code: str, env: dict[str, str], prefix: list[str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [*(prefix or []), sys.executable, "-c", code], env={**base, **env}, capture_output=True
    )
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode().strip()


def test_import_nmt_limits_the_spin_wait_unless_the_user_chose_one():
    assert run(SHOW, {}).split()[0] == "10000"
    assert run(SHOW, {"GOMP_SPINCOUNT": "5"}).split()[0] == "5"
    assert run(SHOW, {"OMP_WAIT_POLICY": "PASSIVE"}).split()[0] == "None"


@pytest.mark.skipif(
    not shutil.which("taskset") or not hasattr(os, "sched_getaffinity"), reason="needs taskset"
)
def test_usable_cores_follow_the_affinity_mask():
    code = "from nmt.core.cores import usable_cores; import os; print(usable_cores(), os.cpu_count())"
    pinned, machine = map(int, run(code, {}, ["taskset", "-c", "0"]).split())
    assert pinned == 1 and machine >= 1
    assert int(run(code, {}).split()[0]) == len(os.sched_getaffinity(0))

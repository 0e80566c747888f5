"""CPU cores and OpenMP's spin-wait: what `import nmt` sets before torch loads, and the affinity mask."""

import os
import shutil
import subprocess
import sys

import pytest

# Records GOMP_SPINCOUNT at the moment torch's package starts loading (when libgomp reads it).
SHOW = """
import importlib.abc, os, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("GOMP_SPINCOUNT"))
sys.meta_path.insert(0, Watch())
import nmt
nmt.load
print(seen[0])
"""


def run(code: str, env: dict[str, str], prefix: list[str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [*(prefix or []), sys.executable, "-c", code], env={**base, **env}, capture_output=True
    )
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode().strip()


def test_import_nmt_limits_the_spin_wait_before_torch_loads_unless_the_user_chose_one():
    assert run(SHOW, {}) == "10000"
    assert run(SHOW, {"GOMP_SPINCOUNT": "5"}) == "5"
    assert run(SHOW, {"OMP_WAIT_POLICY": "PASSIVE"}) == "None"


@pytest.mark.skipif(
    not shutil.which("taskset") or not hasattr(os, "sched_getaffinity"), reason="needs taskset"
)
def test_usable_cores_follow_the_affinity_mask():
    code = "from nmt.core.cores import usable_cores; print(usable_cores())"
    assert run(code, {}, ["taskset", "-c", "0"]) == "1"
    assert int(run(code, {})) == len(os.sched_getaffinity(0))

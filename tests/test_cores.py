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
    code = "from nmt.core.cores import usable_cores; import os; print(usable_cores(), os.cpu_count())"
    pinned, machine = map(int, run(code, {}, ["taskset", "-c", "0"]).split())
    assert pinned == 1 and machine >= 1
    assert int(run(code, {}).split()[0]) == len(os.sched_getaffinity(0))


MALLINFO = """
import ctypes, sys
from nmt.core.memory import keep_freed_memory
FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in FIELDS.split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
before = libc.mallinfo2().hblkhd
block = bytearray(200 << 20)
mapped = libc.mallinfo2().hblkhd - before
del block
print(kept, mapped >> 20, libc.mallinfo2().fordblks >> 20)
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="glibc (Linux) only")
def test_large_blocks_come_from_the_heap_and_stay_for_reuse():
    """glibc maps a 200 MB block on its own and unmaps it on free; after keep_freed_memory it comes
    from the heap and stays there, free for the next step's tensors."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = {
        mode: subprocess.run([sys.executable, "-c", MALLINFO, mode], env=base, capture_output=True, text=True)
        for mode in ("keep", "default")
    }
    assert all(o.returncode == 0 for o in out.values()), [o.stderr for o in out.values()]
    kept, mapped, free = out["keep"].stdout.split()
    assert (kept, int(mapped)) == ("True", 0) and int(free) >= 200
    _, mapped, free = out["default"].stdout.split()
    assert int(mapped) >= 200 and int(free) < 200

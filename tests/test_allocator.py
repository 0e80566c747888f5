"""keep_freed_blocks: a loop that frees and allocates the same large tensors stops faulting their pages in."""

import json
import subprocess
import sys

import pytest

LOOP = """
import json, resource, sys
import torch
from nmt.core.allocator import keep_freed_blocks
kept = keep_freed_blocks() if sys.argv[1] == "keep" else None
for _ in range(5):  # glibc settles in a few rounds
    torch.empty(10 << 20).fill_(1.0)  # 40 MB: above glibc's own mmap threshold, which is at most 32 MB
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.empty(10 << 20).fill_(1.0)  # freed at the end of each statement
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"kept": kept, "faults": faults}))
"""


def faults_in_loop(mode: str) -> dict:
    """Page faults of 20 allocations of 40 MB in a fresh process (the setting is the process's)."""
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux")
def test_kept_blocks_are_reused_rather_than_faulted_in_again():
    default, kept = faults_in_loop("default"), faults_in_loop("keep")
    assert kept["kept"] is True
    assert default["faults"] > 20 * 5_000  # each 40 MB block mapped fresh: 10,240 pages of 4 KB
    assert kept["faults"] * 4 < default["faults"]  # almost always 0; a round may still map afresh

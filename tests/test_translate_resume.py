"""A translate job killed with SIGKILL at a random moment and run again: the same bytes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_translate import FAST, write_docs
from translate_fixtures import make_translator

from nmt.translate import TranslateConfig, translate_job


@pytest.fixture(scope="module")
def translator():
    return make_translator()


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "summary.json"
    }


KILLED_RUN = """
import sys
sys.path.insert(0, "tests")
from translate_fixtures import make_translator
from nmt.translate import TranslateConfig, translate_job
cfg = TranslateConfig.model_validate_json(sys.argv[3])
translate_job([sys.argv[1]], make_translator(), cfg, sys.argv[2])
"""


@pytest.mark.parametrize("beam", [1, 3])
def test_sigkill_then_rerun_gives_identical_bytes(tmp_path, translator, beam):
    inputs = write_docs(tmp_path / "in", n_docs=5, paragraphs=1)
    (inputs / "dup.txt").write_text((inputs / "doc0.txt").read_text())
    cfg = TranslateConfig(**FAST, beam=beam, shard_bytes=100, job_id="job")
    whole = translate_job([inputs], translator, cfg, tmp_path / "a")
    assert whole["shards"] >= 4
    out = tmp_path / "b"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(inputs), str(out), cfg.model_dump_json()],
        cwd=Path(__file__).parent.parent,
    )
    deadline = time.monotonic() + 60
    while not (out / "shards" / "00001" / "_SUCCESS").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists(), "the job finished before it was killed"
    rerun = translate_job([inputs], translator, cfg, out)
    assert rerun["shards_skipped"] >= 2
    assert tree_bytes(out) == tree_bytes(tmp_path / "a")
    assert pq.read_table(out / "translations.parquet").num_rows == whole["sentences"]

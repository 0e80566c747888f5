"""Fault injection: a truncated checkpoint, a full disk during a shard write."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import pytest
from test_cli_errors import one_line_error
from test_translate import write_docs
from test_translate_concurrency import job_bytes, translate_command
from translate_fixtures import make_run_dir

REPO = Path(__file__).resolve().parents[1]
FILE_LIMIT = 16 * 1024  # bytes: the plan fits, the shards' Parquet tables do not


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    return write_docs(tmp_path_factory.mktemp("docs"), 3, 3, 4)


def test_a_truncated_checkpoint_stops_with_one_line_naming_the_file(run_dir, docs, tmp_path):
    broken = Path(tmp_path / "run")
    make_run_dir(broken)
    checkpoint = broken / "train" / "checkpoints" / "best.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    done = subprocess.run(
        translate_command(docs, broken, tmp_path / "out"), cwd=REPO, capture_output=True, text=True
    )
    line = one_line_error(done)
    assert line.startswith(f"error: {checkpoint}: damaged checkpoint (truncated?): ")
    assert line.endswith("; restore or delete it")


def _full_disk() -> None:
    """In the child: files may grow to FILE_LIMIT bytes; past it a write fails (EFBIG), no signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_a_full_disk_fails_the_job_cleanly_and_a_rerun_finishes_it_once(run_dir, docs, tmp_path):
    clean = tmp_path / "clean" / "job"
    assert (
        subprocess.run(translate_command(docs, run_dir, clean), cwd=REPO, capture_output=True).returncode == 0
    )
    out = tmp_path / "full" / "job"
    full = subprocess.run(
        translate_command(docs, run_dir, out), cwd=REPO, capture_output=True, text=True, preexec_fn=_full_disk
    )
    assert full.returncode == 1 and "Traceback" not in full.stderr
    line = full.stderr.splitlines()[-1]
    assert line.startswith("error: ") and "file too large" in line.lower()
    assert line.endswith(": free some space and run again (finished work is kept)")
    assert not (out / "summary.json").exists()
    rerun = subprocess.run(translate_command(docs, run_dir, out), cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert job_bytes(out) == job_bytes(clean)

"""Fault injection: a truncated checkpoint, a full disk in a shard write, SIGKILL in acquire and tokenize."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
import time
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


STAGE = """
import sys
import time
from pathlib import Path
from nmt.data.acquire import AcquireConfig, GeneratedSource
from nmt.pipeline import acquire_stage, tokenize_stage
from nmt.text.tokenization import TokenizeConfig
run = Path(sys.argv[2])
if sys.argv[1] == "acquire":
    sizes = {"train": 3000, "valid": 100, "test": 100}
    acquire_stage(run, AcquireConfig(source=GeneratedSource(sizes=sizes)))
else:
    tokenize_stage(run, TokenizeConfig(vocab_size=600, threads=1))
"""
VOLATILE = {"out_dir", "path", "seconds", "train_seconds", "encode_seconds", "pairs_per_s"}  # where, how fast


def stage(name: str, run: Path) -> subprocess.Popen:
    """The acquire or tokenize stage of `run` in a child process."""
    return subprocess.Popen([sys.executable, "-c", STAGE, name, str(run)], cwd=REPO, stderr=subprocess.PIPE)


def stable_bytes(folder: Path) -> dict[str, object]:
    """Every file under `folder`; JSON files as values without the VOLATILE keys."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return {
        str(p.relative_to(folder)): strip(json.loads(p.read_bytes()))
        if p.suffix == ".json"
        else p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    """An undisturbed acquire and tokenize, and how long each took."""
    run = tmp_path_factory.mktemp("reference")
    seconds = {}
    for name in ("acquire", "tokenize"):
        began = time.monotonic()
        assert stage(name, run).wait(timeout=600) == 0
        seconds[name] = time.monotonic() - began
    return run, seconds


@pytest.mark.slow
@pytest.mark.parametrize("name", ["acquire", "tokenize"])
@pytest.mark.parametrize("fraction", [0.4, 0.8])
def test_sigkill_then_rerun_gives_identical_bytes(reference, name, fraction, tmp_path):
    ref_run, seconds = reference
    run = tmp_path / "run"
    if name == "tokenize":
        shutil.copytree(ref_run / "acquire", run / "acquire")
    killed = stage(name, run)
    time.sleep(fraction * seconds[name])
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    rerun = stage(name, run)
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read()
    assert stable_bytes(run / name) == stable_bytes(ref_run / name)

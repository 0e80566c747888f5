"""Two `nmt translate` processes on one job folder at once (a retry overlapping the run it retries):
the second waits for the first, then finds the job complete; one row per sentence, one run's bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from translate_fixtures import make_run_dir, sentences

REPO = Path(__file__).resolve().parents[1]
SENTENCES = 60  # 3 documents of 4 paragraphs of 5 sentences


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    lines = sentences(SENTENCES, seed=3)
    for d in range(3):
        paragraphs = [" ".join(lines[d * 20 + p * 5 : d * 20 + p * 5 + 5]) for p in range(4)]
        (folder / f"doc-{d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def translate_command(inputs: Path, run_dir: Path, out: Path) -> list[str]:
    """`python -m nmt translate` of the inputs into `out` (greedy, CPU, one torch thread)."""
    return [sys.executable, "-m", "nmt", "translate", str(inputs), "--model", str(run_dir), "--out", str(out)]


def env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "500", "OMP_NUM_THREADS": "1"}


def job_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a finished job; summary.json without its timings and folder."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    summary = json.loads(files.pop("summary.json"))
    files["summary.json"] = json.dumps({k: v for k, v in summary.items() if k != "out_dir"}).encode()
    return files


def run_concurrently(inputs: Path, run_dir: Path, out: Path) -> list[subprocess.CompletedProcess]:
    """Start two translations of one job together; both finished processes."""
    procs = [
        subprocess.Popen(
            translate_command(inputs, run_dir, out),
            cwd=REPO,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    done = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done


@pytest.mark.slow
def test_two_concurrent_translations_of_one_job_end_as_one_run(inputs, run_dir, tmp_path):
    alone = tmp_path / "alone" / "job"
    single = subprocess.run(
        translate_command(inputs, run_dir, alone), cwd=REPO, env=env(), capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr
    together = tmp_path / "together" / "job"
    first, second = run_concurrently(inputs, run_dir, together)
    for proc in (first, second):
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert json.loads(proc.stdout)["sentences"] == SENTENCES
    assert pq.read_table(together / "translations.parquet").num_rows == SENTENCES
    assert job_bytes(together) == job_bytes(alone)

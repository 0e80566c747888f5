"""The CLI's error convention: a user mistake is one line on stderr and exit 2, no traceback; a job
with failed inputs writes everything and exits 1; --debug shows tracebacks; --version."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_lock import hold
from test_translate import write_docs
from translate_fixtures import make_run_dir

REPO = Path(__file__).resolve().parents[1]


def nmt(*args: str) -> subprocess.CompletedProcess:
    """`python -m nmt ARGS`, finished."""
    env = {**os.environ, "COLUMNS": "500"}
    return subprocess.run(
        [sys.executable, "-m", "nmt", *args], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single stderr line of a user mistake (exit 2, nothing else on stderr)."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    return write_docs(tmp_path_factory.mktemp("docs"), 1, 1, 2)


def test_a_model_folder_that_does_not_exist(docs, tmp_path):
    done = nmt("translate", str(docs), "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert one_line_error(done) == (
        f"error: model folder {tmp_path / 'nowhere'} does not exist: give a trained run folder "
        "(nmt train --run ...), an exported model (nmt export), a registered model id or a language pair"
    )


def test_a_missing_input_file(run_dir, tmp_path):
    done = nmt("translate", str(tmp_path / "gone.txt"), "--model", str(run_dir), "--out", str(tmp_path / "o"))
    assert one_line_error(done) == f"error: input {tmp_path / 'gone.txt'} does not exist: check the path"
    assert not (tmp_path / "o").exists()


def test_a_run_folder_that_does_not_exist(tmp_path):
    done = nmt("train", "--run", str(tmp_path / "nowhere"))
    assert one_line_error(done) == (
        f"error: run folder {tmp_path / 'nowhere'} does not exist: "
        "give --run a folder made by `nmt acquire --out` and `nmt tokenize --run`"
    )


def test_a_config_with_an_unknown_preset(tmp_path):
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"preset": "huge"}))
    done = nmt("train", "--run", str(tmp_path), "--config", str(config))
    assert one_line_error(done) == (
        f"error: Invalid value for --config: {config}: TrainConfig: "
        "unknown model preset 'huge'; choose one of ['base', 'paper', 'small', 'tiny']"
    )


def test_an_unknown_model_id_to_promote(tmp_path):
    done = nmt("models", "--registry", str(tmp_path / "reg"), "promote", "nope")
    assert one_line_error(done) == (
        f"error: no model 'nope' in the registry at {tmp_path / 'reg'}: `nmt models` lists the models"
    )


def test_a_run_folder_another_trainer_holds(tmp_path):
    (tmp_path / "train").mkdir()
    child = hold(tmp_path / "train", 60)
    try:
        line = one_line_error(nmt("train", "--run", str(tmp_path)))
    finally:
        child.kill()
        child.wait()
    assert line.startswith(f"error: {(tmp_path / 'train').resolve()} is in use by pid {child.pid} on ")
    assert line.endswith(": let it finish or stop it, then run train again")


def test_an_unknown_option_is_one_line(tmp_path):
    assert one_line_error(nmt("translate", "--model")) == "error: Option '--model' requires an argument."


def test_debug_shows_the_traceback(tmp_path):
    done = nmt("--debug", "models", "--registry", str(tmp_path / "reg"), "promote", "nope")
    assert done.returncode == 1 and "Traceback" in done.stderr and "LookupError" in done.stderr


def test_a_job_with_failed_inputs_writes_everything_and_exits_1(run_dir, docs, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.txt").write_text((docs / "doc0.txt").read_text())
    (inputs / "passwd.txt").symlink_to("/etc/passwd")
    out = tmp_path / "out"
    done = nmt("translate", str(inputs), "--model", str(run_dir), "--out", str(out), "--beam", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["sentences"] == 2 and summary["errors_by_reason"] == {"link_outside": 1}
    assert (out / "summary.json").exists() and (out / "docs" / "good.txt").exists()
    assert done.stderr.splitlines()[-1] == (
        f"error: 1 input(s) not translated (link_outside: 1): see {out / 'errors.parquet'}"
    )


def test_version_names_the_git_commit_of_a_checkout():
    done = nmt("--version")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    assert done.returncode == 0
    assert re.fullmatch(rf"nmt \d+\.\d+\.\d+ \(git {commit}\)\n", done.stdout)

"""The folder lock: a second process refuses or waits, a killed holder never blocks, re-entry in-process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmt.core.lock import FolderBusy, folder_lock, holder, locks_folder
from nmt.train.config import TrainConfig
from nmt.train.run import run_train

REPO = Path(__file__).resolve().parents[1]

HOLD = """
import sys, time
from nmt.core.lock import folder_lock
with folder_lock(sys.argv[1], "nmt holder-test", wait=False):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(folder: Path, seconds: float) -> subprocess.Popen:
    """A child process holding the folder's lock for `seconds`, started once it holds it."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(seconds)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_second_process_is_refused_with_the_holder_named(tmp_path):
    child = hold(tmp_path, 30)
    try:
        with pytest.raises(FolderBusy) as err, folder_lock(tmp_path, "nmt train", wait=False):
            pass
        message = str(err.value)
        assert f"pid {child.pid}" in message and "nmt holder-test" in message and "\n" not in message
    finally:
        child.kill()
        child.wait()


def test_waiting_process_gets_the_folder_when_the_holder_ends(tmp_path):
    child = hold(tmp_path, 1.0)
    start = time.monotonic()
    with folder_lock(tmp_path, "nmt translate", wait=True):
        waited = time.monotonic() - start
        assert child.wait(timeout=10) == 0
        assert "nmt translate" in holder(tmp_path)
    assert 0.3 < waited < 20


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    child = hold(tmp_path, 60)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert f"pid {child.pid}" in holder(tmp_path)  # its record is still there ...
    with folder_lock(tmp_path, "nmt acquire", wait=False):  # ... but the lock went with it
        assert "nmt acquire" in holder(tmp_path)


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with folder_lock(tmp_path, "pipeline", wait=False), folder_lock(tmp_path, "acquire", wait=False):
        assert "pipeline" in holder(tmp_path)
    with folder_lock(tmp_path, "again", wait=False):
        assert "again" in holder(tmp_path)


def test_training_refuses_a_run_folder_another_trainer_holds(tmp_path):
    child = hold(tmp_path / "train", 30)
    try:
        with pytest.raises(FolderBusy, match=f"pid {child.pid}"):
            run_train(tmp_path / "tokenize", TrainConfig(), tmp_path / "train")
    finally:
        child.kill()
        child.wait()


def test_a_decorated_stage_waits_and_passes_its_arguments_through(tmp_path):
    @locks_folder("stage", wait=True, folder="where")
    def stage(x: int, where: Path) -> str:
        return f"{x} {holder(where)}"

    child = hold(tmp_path, 0.5)
    assert stage(3, where=tmp_path).startswith(f"3 pid {os.getpid()} ")
    assert child.wait(timeout=10) == 0

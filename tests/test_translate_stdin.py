"""`nmt translate -`: stdin lines to stdout lines, streamed; and the line batches it reads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from translate_fixtures import make_run_dir, sentences

import nmt
from nmt.core.streams import ready_line_batches
from nmt.model.search import DecodeConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("stdin") / "run")


def start(*args: str) -> subprocess.Popen:
    """`python -m nmt translate - ARGS` with pipes for stdin, stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "nmt", "translate", "-", *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "500"},
    )


def read_line(stream, timeout: float) -> bytes:
    """The next line of `stream`, or a test failure after `timeout` seconds."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert got, f"no output line within {timeout} s"
    return got[0]


def test_stdin_lines_are_translated_line_by_line_and_streamed(run_dir):
    first = sentences(3, seed=3)
    rest = ["", "  ", f"{sentences(1, seed=4)[0]} {sentences(1, seed=5)[0]}", *sentences(4, seed=6)]
    want = nmt.load(run_dir, device="cpu").translate(first + rest, beam=2)
    proc = start("--model", str(run_dir), "--beam", "2", "--device", "cpu")
    try:
        proc.stdin.write("".join(line + "\n" for line in first).encode())
        proc.stdin.flush()
        # stdin stays open: the first lines come back before any more input exists
        assert read_line(proc.stdout, 240).decode().rstrip("\n") == want[0]
        proc.stdin.write(("\n".join(rest)).encode())  # the last line has no line break
        proc.stdin.close()
        out, err = proc.stdout.read(), proc.stderr.read()
        assert proc.wait(timeout=120) == 0, err.decode()
    finally:
        proc.kill()
    lines = out.decode().split("\n")
    assert lines[-1] == ""  # every line ends with a line break
    assert lines[:-1] == want[1:]
    assert want[3] == "" and want[5].count(" ") >= 1  # the empty line stays empty; two sentences on one line


def test_bf16_option_reaches_the_decoder(run_dir, tmp_path):
    """`--bf16`, on stdin and on files, decodes with DecodeConfig.bf16: the lines are the API's bf16
    translations, and the files' scores are the bf16 log-probabilities, not the fp32 ones."""
    lines = sentences(6, seed=7)
    model = nmt.load(run_dir, device="cpu")
    want = model.translate(lines, beam=2, bf16=True)
    proc = start("--model", str(run_dir), "--beam", "2", "--device", "cpu", "--bf16")
    out, err = proc.communicate("".join(line + "\n" for line in lines).encode(), timeout=240)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split("\n")[:-1] == want
    docs = tmp_path / "in"
    docs.mkdir()
    (docs / "doc.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "nmt", "translate", str(docs), "--model", str(run_dir), "--beam", "2"]
    done = subprocess.run([*command, "--device", "cpu", "--out", str(tmp_path / "out"), "--bf16"], cwd=REPO)
    assert done.returncode == 0
    scores = pq.read_table(tmp_path / "out" / "translations.parquet")["score"].to_pylist()
    bf16, fp32 = (model.translator.translate(lines, DecodeConfig(beam=2, bf16=b)) for b in (True, False))
    assert scores == pytest.approx([r.score for r in bf16], abs=1e-4)
    assert scores != pytest.approx([r.score for r in fp32], abs=1e-4)


def test_a_reader_that_stops_after_one_line_ends_the_command_quietly(run_dir):
    """`nmt translate - | head -1`: head exits after one line; the next write finds the pipe closed."""
    want = nmt.load(run_dir, device="cpu").translate(sentences(3, seed=8), beam=1)
    proc = start("--model", str(run_dir), "--beam", "1", "--device", "cpu")
    head = subprocess.Popen(["head", "-1"], stdin=proc.stdout, stdout=subprocess.PIPE)
    proc.stdout.close()  # head holds the only reading end
    try:
        proc.stdin.write(f"{sentences(3, seed=8)[0]}\n".encode())
        proc.stdin.flush()
        assert read_line(head.stdout, 240).decode().rstrip("\n") == want[0]
        assert head.wait(timeout=60) == 0  # the reading end is closed now
        proc.stdin.write("".join(line + "\n" for line in sentences(3, seed=8)[1:]).encode())
        proc.stdin.close()
        status, err = proc.wait(timeout=120), proc.stderr.read().decode()
    finally:
        proc.kill()
        head.kill()
    assert status == 141, err  # 128 + SIGPIPE, as a shell reports a filter SIGPIPE ended
    assert "Traceback" not in err and "error:" not in err and "BrokenPipe" not in err, err


def test_a_line_that_is_not_utf8_stops_with_its_line_number(run_dir):
    proc = start("--model", str(run_dir), "--device", "cpu")
    out, err = proc.communicate(b"Ein mann.\n\xff\xfe\n", timeout=240)
    assert proc.returncode == 2
    last = err.decode().strip().splitlines()[-1]
    assert last == "error: <stdin>:2: not UTF-8 (byte 1): convert it to UTF-8"


def test_stdin_takes_no_other_input_and_no_out_folder(run_dir, tmp_path):
    for extra in (["--out", str(tmp_path / "out")], [str(tmp_path)]):
        proc = start("--model", str(run_dir), *extra)
        _, err = proc.communicate(b"", timeout=240)
        assert proc.returncode == 2
        assert err.decode().strip() == (
            "error: Invalid value: - reads stdin and writes stdout: give no other input and no --out"
        )


def test_line_batches_hold_at_most_max_lines_and_strip_line_endings():
    read, write = os.pipe()
    os.write(write, b"a\r\nb\nc\n\nd")
    os.close(write)
    assert list(ready_line_batches(read, 2)) == [["a", "b"], ["c", ""], ["d"]]
    os.close(read)


def test_a_batch_ends_when_no_more_input_is_ready():
    read, write = os.pipe()
    os.write(write, b"one\ntwo\n")
    batches = ready_line_batches(read, 1000)
    got: list[list[str]] = []
    reader = threading.Thread(target=lambda: got.append(next(batches)), daemon=True)
    reader.start()
    reader.join(30)
    assert got == [["one", "two"]]  # the write end is still open: no waiting for the 1000
    os.write(write, b"three\n")
    os.close(write)
    assert list(batches) == [["three"]]
    os.close(read)

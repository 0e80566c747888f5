"""A translate job killed with SIGKILL at a random moment and run again, or its shards run in another
order: the same bytes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_translate import (
    FAST,
    REPEATS_CFG,
    REPEATS_SHARED,
    by_letter,
    spy_encoded,
    write_docs,
    write_repeats,
)
from translate_fixtures import make_translator

from nmt.translate.config import TranslateConfig
from nmt.translate.job import finish_job, start_job, translate_job
from nmt.translate.shard import translate_shard, translate_shared


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
import json
cfg = TranslateConfig.model_validate_json(sys.argv[3])
print(json.dumps(translate_job([sys.argv[1]], make_translator(), cfg, sys.argv[2]), default=str))
"""


def job_in_a_process(inputs: Path, out: Path, cfg: TranslateConfig) -> dict:
    """Run the job in a fresh process (as a rerun after a crash is) and return its summary."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(inputs), str(out), cfg.model_dump_json()],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("beam", [1, 3])
def test_sigkill_then_rerun_gives_identical_bytes(tmp_path, beam):
    inputs = write_docs(tmp_path / "in", n_docs=5, paragraphs=1)
    (inputs / "dup.txt").write_text((inputs / "doc0.txt").read_text())
    # Every run in a fresh process with one torch thread, as after a real crash: CPU kernels sum
    # in a thread-count-dependent order, and this test process's torch state is not a fresh one's.
    cfg = TranslateConfig(**{**FAST, "beam": beam}, shard_bytes=100, job_id="job", threads=1)
    whole = job_in_a_process(inputs, tmp_path / "a", cfg)
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
    rerun = job_in_a_process(inputs, out, cfg)
    assert rerun["shards_skipped"] >= 2
    assert tree_bytes(out) == tree_bytes(tmp_path / "a")
    assert pq.read_table(out / "translations.parquet").num_rows == whole["sentences"]


@pytest.mark.parametrize("beam", [1, 3])
def test_shards_in_reverse_order_after_the_shared_step_give_identical_bytes(tmp_path, translator, beam):
    pool = write_repeats(tmp_path / "in")
    inputs, cfg = (
        [tmp_path / "in"],
        REPEATS_CFG.model_copy(update={"decode": REPEATS_CFG.decode.model_copy(update={"beam": beam})}),
    )
    translate_job(inputs, translator, cfg, tmp_path / "a")
    out = tmp_path / "b"
    job = start_job(inputs, translator.model_id, cfg, out)
    shared = (out / "plan" / "shared.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in shared] == by_letter(pool, REPEATS_SHARED)
    with pytest.raises(RuntimeError, match="run translate_shared first"):
        translate_shard(out, job.shards - 1, translator, cfg)
    translate_shared(out, translator, cfg)
    for shard in reversed(job.pending):
        translate_shard(out, shard, translator, cfg)
    finish_job(job, cfg)
    assert tree_bytes(out) == tree_bytes(tmp_path / "a")


def test_rerun_after_the_shared_step_decodes_only_the_rest(tmp_path, translator, monkeypatch):
    pool = write_repeats(tmp_path / "in")
    inputs = [tmp_path / "in"]
    translate_job(inputs, translator, REPEATS_CFG, tmp_path / "a")
    out = tmp_path / "b"
    start_job(inputs, translator.model_id, REPEATS_CFG, out)
    translate_shared(out, translator, REPEATS_CFG)  # the job dies here, before any shard
    decoded = spy_encoded(monkeypatch, translator)
    rerun = translate_job(inputs, translator, REPEATS_CFG, out)
    assert decoded == by_letter(pool, "f")  # the one sentence no two shards share
    assert rerun["decoded_sentences"] == len(pool) and rerun["shards_skipped"] == 0
    assert tree_bytes(out) == tree_bytes(tmp_path / "a")

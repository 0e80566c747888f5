"""`nmt compare`: paired significance test between two evaluated runs."""

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmt.core.rundir import RunDir
from nmt.evaluate.compare import compare, to_text

REFS = [f"a man number {i} walks his dog in the park ." for i in range(60)]


def evaluated_run(root, hypotheses, references=REFS, decoding="beam5"):
    run = RunDir(root)
    run.acquire.mkdir(parents=True)
    rows = [{"id": i, "split": "test", "src": f"s{i}", "tgt": t} for i, t in enumerate(references)]
    pq.write_table(pa.Table.from_pylist(rows), run.acquire / "pairs.parquet")
    run.evaluate.mkdir()
    (run.evaluate / f"test.{decoding}.hyp.txt").write_text("".join(h + "\n" for h in hypotheses))
    return root


def test_a_clearly_better_system_is_significant(tmp_path):
    worse = [r.replace("walks", "runs").replace("park", "garden") for r in REFS]
    baseline, candidate = evaluated_run(tmp_path / "a", worse), evaluated_run(tmp_path / "b", REFS)
    result = compare(baseline, candidate, samples=200)
    by = {r["metric"]: r for r in result["metrics"]}
    assert by["BLEU"]["candidate"] == 100.0 and by["BLEU"]["delta"] > 30
    assert by["BLEU"]["p_value"] < 0.05 and by["BLEU"]["significant"]
    assert by["TER"]["delta"] < 0 and by["TER"]["significant"]
    assert "bs:200" in by["BLEU"]["signature"]
    text = to_text(result, "a", "b")
    assert "paired bootstrap with 200 samples" in text and "BLEU" in text and "*" in text


def test_identical_systems_are_not_significantly_different(tmp_path):
    hyps = [r.replace("dog", "cat") if i % 2 else r for i, r in enumerate(REFS)]
    result = compare(evaluated_run(tmp_path / "a", hyps), evaluated_run(tmp_path / "b", hyps), samples=200)
    assert all(r["delta"] == 0 and not r["significant"] for r in result["metrics"])


def test_mismatched_runs_are_refused(tmp_path):
    a = evaluated_run(tmp_path / "a", REFS)
    with pytest.raises(ValueError, match="different 'test' references"):
        compare(a, evaluated_run(tmp_path / "b", REFS, references=REFS[::-1]))
    with pytest.raises(FileNotFoundError, match=r"test.greedy.hyp.txt: not found"):
        compare(a, a, beam=1)


def test_cli_compare_prints_the_table(tmp_path):
    a = evaluated_run(tmp_path / "a", [r.replace("man", "woman") for r in REFS])
    b = evaluated_run(tmp_path / "b", REFS)
    env = {**os.environ, "COLUMNS": "500"}
    out = subprocess.run(
        [sys.executable, "-m", "nmt", "compare", str(a), str(b), "--samples", "100"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "candidate: " + str(b) in out.stdout and "TER: lower is better" in out.stdout

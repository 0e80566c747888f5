"""Safety under concurrency and SIGKILL, in rounds: how many end exactly once with identical bytes.

    python benchmarks/safety.py [--rounds 10] [--quick]

concurrent_translate: two `nmt translate` processes started together on one job folder (a retry
overlapping the run it retries); a round passes when both exit 0 without a traceback and the
folder holds one row per sentence and the bytes of one undisturbed run. sigkill_acquire and
sigkill_tokenize: `nmt acquire` (the generated corpus) or `nmt tokenize` killed with SIGKILL at
a random moment, then run again to the end; a round passes when the stage folder's bytes equal
an undisturbed run's. JSON files are compared without the keys that say where and how fast
(out_dir, path, seconds, pairs_per_s). The model is the tests' random tiny model
(tests/translate_fixtures.py): the point is the files, not the translations. --quick runs 2
rounds of each. Results go to benchmarks/results/safety.json, passes per kind at the top level.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from benchmarks.machine import cpu_model  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "tests"))

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from translate_fixtures import make_run_dir, sentences  # noqa: E402

from nmt.core.lock import LOCK_NAME  # noqa: E402

REPO = Path(_HERE).parent
RESULTS = REPO / "benchmarks" / "results" / "safety.json"
ENV = {**os.environ, "COLUMNS": "500", "OMP_NUM_THREADS": "1"}
SENTENCES = 60


def nmt(*args: str) -> list[str]:
    return [sys.executable, "-m", "nmt", *args]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        nmt(*args), cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=900)
    return proc.returncode, out, err


VOLATILE = {"out_dir", "path", "seconds", "pairs_per_s"}  # where and how fast, not what


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` but the lock; JSON files without VOLATILE keys."""
    files = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }
    for name in [n for n in files if n.endswith(".json")]:
        files[name] = json.dumps(_stable(json.loads(files[name]))).encode()
    return files


def _stable(value):
    """A JSON value without the VOLATILE keys, at any depth."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def write_inputs(folder: Path) -> Path:
    lines = sentences(SENTENCES, seed=3)
    folder.mkdir(parents=True)
    for d in range(3):
        paragraphs = [" ".join(lines[d * 20 + p * 5 : d * 20 + p * 5 + 5]) for p in range(4)]
        (folder / f"doc-{d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def concurrent_translate(work: Path, rounds: int) -> dict:
    run, inputs = make_run_dir(work / "run"), write_inputs(work / "inputs")
    args = [str(inputs), "--model", str(run), "--beam", "1"]
    code, _, err = finish(start("translate", *args, "--out", str(work / "alone" / "job")))
    assert code == 0, err
    reference = folder_bytes(work / "alone" / "job")
    passed, seconds = 0, []
    for k in range(rounds):
        out = work / f"together-{k}" / "job"
        began = time.perf_counter()
        done = [finish(p) for p in [start("translate", *args, "--out", str(out)) for _ in range(2)]]
        seconds.append(time.perf_counter() - began)
        ok = all(code == 0 and "Traceback" not in err for code, _, err in done)
        ok = ok and all(json.loads(o)["sentences"] == SENTENCES for _, o, _ in done)
        passed += ok and folder_bytes(out) == reference
        print(f"concurrent_translate round {k}: {'ok' if ok else 'FAILED'}", flush=True)
    return {"rounds": rounds, "passed": passed, "seconds_per_round": round(sum(seconds) / rounds, 2)}


def killed_and_rerun(work: Path, stage: str, rounds: int, seed: int) -> dict:
    """`stage` (acquire or tokenize) SIGKILLed at a random moment, rerun; rounds whose bytes match."""
    rng = random.Random(seed)
    reference_run = work / f"{stage}-reference"

    def prepare(run: Path) -> None:
        if stage == "tokenize":
            shutil.copytree(work / "acquire-reference" / "acquire", run / "acquire")

    def command(run: Path) -> list[str]:
        if stage == "acquire":
            return ["acquire", "--out", str(run)]
        return ["tokenize", "--run", str(run), "--vocab-size", "1000"]

    prepare(reference_run)
    began = time.perf_counter()
    code, _, err = finish(start(*command(reference_run)))
    assert code == 0, err
    duration = time.perf_counter() - began
    reference = folder_bytes(reference_run / stage)
    passed, killed_at = 0, []
    for k in range(rounds):
        run = work / f"{stage}-{k}"
        prepare(run)
        proc = start(*command(run))
        delay = rng.uniform(0.3, 1.0) * duration
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        killed_at.append(round(delay, 1))
        code, _, err = finish(start(*command(run)))
        ok = code == 0 and "Traceback" not in err and folder_bytes(run / stage) == reference
        passed += ok
        print(f"sigkill_{stage} round {k} (killed at {delay:.1f} s): {'ok' if ok else 'FAILED'}", flush=True)
    return {
        "rounds": rounds,
        "passed": passed,
        "undisturbed_seconds": round(duration, 1),
        "killed_at": killed_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 rounds of each")
    parser.add_argument("--only", choices=["concurrent_translate", "sigkill_acquire", "sigkill_tokenize"])
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kinds = {
            "concurrent_translate": lambda: concurrent_translate(work, rounds),
            "sigkill_acquire": lambda: killed_and_rerun(work, "acquire", rounds, seed=1),
            "sigkill_tokenize": lambda: killed_and_rerun(work, "tokenize", rounds, seed=2),
        }
        for kind, measure in kinds.items():
            if args.only in (None, kind) or (kind == "sigkill_acquire" and args.only == "sigkill_tokenize"):
                results.setdefault("details", {})[kind] = measure()
                detail = results["details"][kind]
                results[kind] = f"{detail['passed']}/{detail['rounds']}"
    results["cpu"] = cpu_model()
    results["command"] = " ".join(["python", "benchmarks/safety.py", *sys.argv[1:]])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    headline = {
        k: results[k] for k in ("concurrent_translate", "sigkill_acquire", "sigkill_tokenize") if k in results
    }
    RESULTS.write_text(json.dumps({**headline, **results}, indent=2) + "\n")
    print(json.dumps(headline))


if __name__ == "__main__":
    main()

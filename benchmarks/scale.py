"""Benchmark acquire, tokenize and a few training steps at corpus sizes of millions of pairs.

The corpus is generated from Multi30k train (../shared/corpora/multi30k): each line joins three
random Multi30k sentences, the same three on both sides (English-German), so lines are 25-40
words a side, as in WMT news text. It is written as a `<split>.<lang>` folder (train of N
lines, val and test of 200: training's validation decodes all of val) and read by
`nmt acquire --source`. Each stage runs as its own child process (`python -m nmt ...`), so
its peak RSS (from wait4) is the stage's own:

    acquire   nmt acquire --source <corpus> --src en --tgt de
    tokenize  nmt tokenize --vocab-size 16000   (sentencepiece training on a seeded sample)
    train     nmt train --config <20 steps of the small preset, on the CPU, a progress line a step>

Reported per stage and size: wall seconds, pairs/s (train pairs / wall), peak RSS, and the
big/small RSS ratio; for tokenize also the sentencepiece training and encoding times (from
the stage's manifest). Aims: peak RSS at the big size at most 1.25x the small one and under
3 GiB; acquire >= 50k pairs/s; tokenize encoding >= 40k pairs/s; training's first step logged
within 60 s of the process start (first_step_seconds).

Run: .venv/bin/python benchmarks/scale.py [--quick] [--work DIR]
(sizes 1M and 4M pairs; --quick: 250k and 1M; generated corpora are kept in --work for reruns)
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/scale.py` puts this folder first on sys.path, where benchmarks/tokenize.py
# would shadow the standard library's tokenize module (imported by numpy): drop it.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "multi30k"
RESULT = ROOT / "benchmarks" / "results" / "scale.json"
HELD_OUT = 200  # lines of val and of test (training validates with greedy decoding of all of val)
GIB = 1 << 30
AIMS = {
    "rss_ratio": 1.25,
    "rss_gib": 3.0,
    "acquire_pairs_per_s": 50_000,
    "encode_pairs_per_s": 40_000,
    "first_step_seconds": 60,
}
# The training stage: 20 steps of the small preset, a progress line at every step.
TRAIN = {"preset": "small", "max_steps": 20, "max_epochs": None, "device": "cpu", "log_every": 1}


def cpu_model() -> str:
    """lscpu's model name."""
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")


def generate(folder: Path, lines: int, seed: int = 1) -> Path:
    """Write train (`lines` lines), val and test of three joined Multi30k sentences per line."""
    done = f"{lines} {HELD_OUT} {seed}"
    if (folder / "done").is_file() and (folder / "done").read_text() == done:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sides = {
        lang: gzip.decompress((SHARED / f"train.{lang}.gz").read_bytes()).decode().splitlines()
        for lang in ("en", "de")
    }
    n = len(sides["en"])
    rng = np.random.default_rng(seed)
    for split, count in (("train", lines), ("val", HELD_OUT), ("test", HELD_OUT)):
        picks = [rng.integers(0, n, size=(min(100_000, count - s), 3)) for s in range(0, count, 100_000)]
        for lang, sentences in sides.items():
            with open(folder / f"{split}.{lang}", "w", encoding="utf-8") as out:
                for chunk in picks:  # [lines, 3] sentence indices, the same on both sides
                    out.write("".join(" ".join(sentences[i] for i in row) + "\n" for row in chunk.tolist()))
    (folder / "done").write_text(done)
    return folder


def run_stage(args: list[str], log: Path, marker: str | None = None) -> dict:
    """Run `python -m nmt <args>` as a child; its wall seconds, peak RSS and when `marker` was logged."""
    started = time.perf_counter()
    seen = None
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nmt", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in proc.stdout:
            out.write(line)
            if marker and seen is None and marker in line:
                seen = round(time.perf_counter() - started, 1)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"nmt {' '.join(args)} failed ({proc.returncode}); see {log}")
    result = {"seconds": round(seconds, 1), "peak_rss_gib": round(usage.ru_maxrss * 1024 / GIB, 3)}
    if marker:
        result["marker_seconds"] = seen
    return result


def bench_size(work: Path, lines: int) -> dict:
    """Generate the corpus of `lines` train pairs and run the three stages on it."""
    corpus = generate(work / f"corpus-{lines}", lines)
    run = work / f"run-{lines}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    stages = {}
    acquire = ["acquire", "--out", str(run), "--source", str(corpus), "--src", "en", "--tgt", "de"]
    stages["acquire"] = run_stage(acquire, run / "acquire.log")
    manifest = json.loads((run / "acquire" / "manifest.json").read_text())
    pairs = manifest["counts"]["train"]
    tokenize = ["tokenize", "--run", str(run), "--vocab-size", "16000"]
    stages["tokenize"] = run_stage(tokenize, run / "tokenize.log")
    summary = json.loads((run / "tokenize" / "manifest.json").read_text())["summary"]
    encoded = sum(summary["rows"].values())
    stages["tokenize"].update(
        spm_sentences=summary["spm_sentences"],
        train_spm_seconds=summary["train_seconds"],
        encode_seconds=summary["encode_seconds"],
        encode_pairs_per_s=round(encoded / summary["encode_seconds"]),
    )
    config = run / "train.json"
    config.write_text(json.dumps(TRAIN))
    stages["train"] = run_stage(
        ["train", "--run", str(run), "--config", str(config)], run / "train.log", "step 1 |"
    )
    stages["train"]["first_step_seconds"] = stages["train"].pop("marker_seconds")
    for stage in stages.values():
        stage["pairs_per_s"] = round(pairs / stage["seconds"])
    print(f"{lines} lines ({pairs} train pairs): {json.dumps(stages)}", flush=True)
    shutil.rmtree(run)
    return {"train_pairs": pairs, "rejects": manifest["rejects_total"], "stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="250k and 1M pairs instead of 1M and 4M")
    parser.add_argument("--work", type=Path, default=Path("/tmp/nmt-scale"), help="corpora and runs")
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    small, big = (250_000, 1_000_000) if args.quick else (1_000_000, 4_000_000)
    results = {size: bench_size(args.work, size) for size in (small, big)}
    stages = {}
    for name in ("acquire", "tokenize", "train"):
        a, b = (results[size]["stages"][name] for size in (small, big))
        stages[name] = {
            "rss_ratio": round(b["peak_rss_gib"] / a["peak_rss_gib"], 3),
            "peak_rss_gib": b["peak_rss_gib"],
            "pairs_per_s": b["pairs_per_s"],
            "small": a,
            "big": b,
        }
    big_stages = results[big]["stages"]
    aims = {
        "rss_ratio": {k: v["rss_ratio"] <= AIMS["rss_ratio"] for k, v in stages.items()},
        "rss_under_3gib": {k: v["peak_rss_gib"] < AIMS["rss_gib"] for k, v in stages.items()},
        "acquire_pairs_per_s": big_stages["acquire"]["pairs_per_s"] >= AIMS["acquire_pairs_per_s"],
        "encode_pairs_per_s": big_stages["tokenize"]["encode_pairs_per_s"] >= AIMS["encode_pairs_per_s"],
        "first_step_seconds": big_stages["train"]["first_step_seconds"] <= AIMS["first_step_seconds"],
    }
    out = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),  # the cores this run may use (taskset)
        "quick": args.quick,
        "sizes": [small, big],
        "rss_ratio": {k: v["rss_ratio"] for k, v in stages.items()},
        "peak_rss_gib": {k: v["peak_rss_gib"] for k, v in stages.items()},
        "acquire_pairs_per_s": big_stages["acquire"]["pairs_per_s"],
        "encode_pairs_per_s": big_stages["tokenize"]["encode_pairs_per_s"],
        "first_step_seconds": big_stages["train"]["first_step_seconds"],
        "aims": AIMS,
        "aims_met": aims,
        "stages": stages,
        "runs": {str(k): v for k, v in results.items()},
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": load,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("rss_ratio", "peak_rss_gib", "aims_met")}, indent=1))


if __name__ == "__main__":
    main()

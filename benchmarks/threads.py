"""Training speed when another process shares the cores: OpenMP's spin-wait settings compared.

    python benchmarks/threads.py [--quick] [--seconds 20]

Each setting runs the train stage's own steps (`base`, Multi30k de-en, batch 2048 tokens, all
cores' threads) in fresh child processes: alone ("idle"), then two identical children at once
("pair", each reporting its own rate). The settings are libgomp's default spin of 300,000 rounds
before an idle thread sleeps, nmt's 10,000 (nmt.core.cores, set by `import nmt`), and no spin
(OMP_WAIT_POLICY=PASSIVE). Results go to benchmarks/results/threads.json: per setting the idle
and pair target tokens/s, and the headline ratios of nmt's setting to libgomp's default.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import fmean  # noqa: E402

from benchmarks.machine import cpu_model  # noqa: E402

ROOT = Path(_HERE).parent
RESULT = ROOT / "benchmarks" / "results" / "threads.json"
SETTINGS = {
    "libgomp default (spin 300,000)": {"GOMP_SPINCOUNT": "300000"},
    "nmt (spin 10,000)": {"GOMP_SPINCOUNT": "10000"},
    "passive (no spin)": {"OMP_WAIT_POLICY": "PASSIVE"},
}
BATCH_TOKENS = 2048


def child(seconds: float) -> None:
    """Time training steps in this process (after 2 untimed ones); print target tokens/s as JSON."""
    import tempfile

    import torch

    from benchmarks.train import target_tokens, tokenize_dir
    from nmt.model.batching import DataPosition
    from nmt.train.config import TrainConfig
    from nmt.train.distributed import Distributed
    from nmt.train.trainer import Trainer

    cfg = TrainConfig(preset="base", batch_tokens=BATCH_TOKENS, max_epochs=None)
    with tempfile.TemporaryDirectory() as cache:
        trainer = Trainer(tokenize_dir(), cfg, Distributed(), Path(cache))
        groups = trainer.stream.groups(DataPosition())
        for _ in range(2):
            trainer.train_step(next(groups)[0])
        steps = tokens = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            group = next(groups)[0]
            trainer.train_step(group)
            tokens += target_tokens(trainer, group)
            steps += 1
        elapsed = time.monotonic() - started
    print(
        json.dumps(
            {"tokens_per_s": round(tokens / elapsed, 1), "steps": steps, "threads": torch.get_num_threads()}
        )
    )


def launch(env: dict[str, str], seconds: float) -> subprocess.Popen:
    """A child process timing training steps under `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    cmd = [sys.executable, __file__, "--child", "--seconds", str(seconds)]
    return subprocess.Popen(
        cmd, env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def measured(procs: list[subprocess.Popen]) -> list[dict]:
    """The JSON lines of finished children."""
    out = []
    for proc in procs:
        stdout, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark child failed with status {proc.returncode}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per child")
    parser.add_argument("--quick", action="store_true", help="8 timed seconds per child")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = 8.0 if args.quick else args.seconds
    if args.child:
        child(seconds)
        return
    from benchmarks.train import tokenize_dir

    tokenize_dir()  # built once here, not by the timed children
    rows = []
    for name, env in SETTINGS.items():
        idle = measured([launch(env, seconds)])[0]
        pair = measured([launch(env, seconds), launch(env, seconds)])
        rows.append(
            {
                "setting": name,
                "env": env,
                "idle_tokens_per_s": idle["tokens_per_s"],
                "pair_tokens_per_s": [p["tokens_per_s"] for p in pair],
                "threads": idle["threads"],
            }
        )
        print(
            f"{name:32} idle {idle['tokens_per_s']:8.1f}   pair {rows[-1]['pair_tokens_per_s']}", flush=True
        )
    default, ours = rows[0], rows[1]
    result = {
        "idle_ratio_nmt_to_default": round(ours["idle_tokens_per_s"] / default["idle_tokens_per_s"], 3),
        "pair_ratio_nmt_to_default": round(
            fmean(ours["pair_tokens_per_s"]) / fmean(default["pair_tokens_per_s"]), 2
        ),
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "settings": {"preset": "base", "batch_tokens": BATCH_TOKENS, "seconds": seconds, "quick": args.quick},
        "command": " ".join(["benchmarks/threads.py", *sys.argv[1:]]),
        "rows": rows,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps({k: result[k] for k in ("idle_ratio_nmt_to_default", "pair_ratio_nmt_to_default", "cpu")})
    )


if __name__ == "__main__":
    main()

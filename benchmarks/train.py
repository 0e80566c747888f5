"""Benchmark training speed: target tokens per second and peak memory, `base` on Multi30k de-en.

Each variant (CPU fp32, CPU bf16 products, and CUDA fp32/bf16 autocast where a GPU is present) runs the
train stage's own steps (nmt.train.trainer.Trainer) in a fresh child process for a fixed time, after 3
untimed warm-up steps, so the peak memory (max RSS on CPU, max allocated on CUDA) belongs to
that variant alone. Tokens per second counts real target tokens (pieces + EOS).

Peers on the same task (../shared/notes/hardware-and-peers.md): Joey NMT 1,257 and OpenNMT-py
2,019 target tokens/s (batch 64 sentences, base-like model with input feeding), measured on another
day. `--peer VENV` runs OpenNMT-py 3.5.1 itself in the same run, on the same data, threads and
seconds (install it with benchmarks/peers/opennmt-py.sh): the only comparison that holds when the
machine changes.

The data is a benchmark fixture built here straight from ../shared/corpora/multi30k (train and
val, German source, English target) and tokenized by the tokenize stage (joint unigram 8k),
cached under data/bench/.

Run: .venv/bin/python benchmarks/train.py [--quick]
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/train.py` puts benchmarks/ first on sys.path, where benchmarks/tokenize.py
# would shadow the standard library's tokenize module: use the repo root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmarks.machine import cpu_model, peak_rss_mib  # noqa: E402
from nmt.core.atomic import write_json, write_parquet  # noqa: E402
from nmt.core.cores import usable_cores  # noqa: E402
from nmt.core.schema import PAIRS  # noqa: E402
from nmt.model.bahdanau import count_parameters  # noqa: E402
from nmt.model.batching import DataPosition, TokenData, plan_epoch  # noqa: E402
from nmt.model.bf16_matmul import has_bf16_matrix_units  # noqa: E402
from nmt.text.tokenization import TokenizeConfig, run_tokenize  # noqa: E402
from nmt.train.config import TrainConfig  # noqa: E402
from nmt.train.distributed import Distributed  # noqa: E402
from nmt.train.trainer import Trainer  # noqa: E402

ROOT = Path(_HERE).parent
CORPUS = ROOT.parent / "shared" / "corpora" / "multi30k"
CACHE = ROOT / "data" / "bench" / "multi30k-de-en"
RESULT = ROOT / "benchmarks" / "results" / "train.json"
PEERS = {"joeynmt-2.3.0": 1257, "opennmt-py-3.5.1": 2019}
PEER = "opennmt-py-3.5.1"
# OpenNMT-py reports "bsz: <src>/<tgt>/<sents>; <src>/<tgt> tok/s", averaged over report_every steps
REPORT = re.compile(
    r"bsz:\s*[\d.]+/\s*(?P<tgt_batch>[\d.]+)/\s*[\d.]+;\s*[\d.]+/\s*(?P<tgt_rate>[\d.]+) tok/s"
)
REPORT_EVERY = 10


def read_gz(name: str) -> list[str]:
    """Lines of one Multi30k file."""
    return gzip.decompress((CORPUS / name).read_bytes()).decode("utf-8").splitlines()


def tokenize_dir() -> Path:
    """Multi30k de-en pairs (train, valid) tokenized by the tokenize stage; cached."""
    pairs = CACHE / "pairs.parquet"
    if not pairs.exists():
        rows = {"id": [], "split": [], "src": [], "tgt": [], "origin": []}
        for split, prefix in (("train", "train"), ("valid", "val")):
            src, tgt = read_gz(f"{prefix}.de.gz"), read_gz(f"{prefix}.en.gz")
            for line, (s, t) in enumerate(zip(src, tgt, strict=True), 1):
                rows["id"].append(len(rows["id"]))
                rows["split"].append(split)
                rows["src"].append(s)
                rows["tgt"].append(t)
                rows["origin"].append(f"{prefix}.de.gz:{line}")
        write_parquet(pairs, pa.table(rows, schema=PAIRS))
    out = CACHE / "tokenize"
    run_tokenize(pairs, TokenizeConfig(vocab_size=8000), out)
    return out


def train_config(device: str, bf16: bool, batch_tokens: int, input_feeding: bool = False) -> TrainConfig:
    """The benchmarked settings: `base`, Adam 1e-3, clipping 1.0, all cores.

    input_feeding=True is the peers' configuration (the notes): base plus input feeding, and the output
    layer over the target pieces (OpenNMT-py's target vocabulary: the same 3,896 pieces).
    """
    return TrainConfig(
        preset="base",
        model={"input_feeding": input_feeding},
        output_vocabulary="target" if input_feeding else "full",
        batch_tokens=batch_tokens,
        optimizer="adam",
        lr=1e-3,
        device=device,
        bf16=bf16,
        max_epochs=None,
    )


def child(variant: str, seconds: float, batch_tokens: int, warmup_steps: int = 3) -> None:
    """Time training steps of one variant in this process; print its measurements as JSON.

    The steps are the train stage's own (Trainer.train_step on the epoch plan); the first
    `warmup_steps` (allocator and oneDNN/cuBLAS warm-up) are not timed.
    """
    device, precision, *extra = variant.split("-")
    cfg = train_config(device, precision == "bf16", batch_tokens, input_feeding="inputfeed" in extra)
    cache = tempfile.TemporaryDirectory()
    trainer = Trainer(tokenize_dir(), cfg, Distributed(), Path(cache.name))
    groups = trainer.stream.groups(DataPosition())
    for _ in range(warmup_steps):
        trainer.train_step(next(groups)[0])
    sync = synchronizer(device)
    sync()
    steps, tokens, started = 0, 0, time.monotonic()
    while time.monotonic() - started < seconds:
        group = next(groups)[0]
        trainer.train_step(group)
        tokens += target_tokens(trainer, group)
        steps += 1
    sync()
    elapsed = time.monotonic() - started
    peak = peak_rss_mib() / 1024  # GiB
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    flops_per_token = step_flops_per_token(trainer, groups)
    achieved = flops_per_token * tokens / elapsed
    peak_rate = matmul_rate(device, torch.bfloat16 if precision == "bf16" else torch.float32)
    print(
        json.dumps(
            {
                "variant": variant,
                "tokens_per_s": round(tokens / elapsed, 1),
                "peak_memory_gib": round(peak, 3),
                "peak_memory_kind": "cuda max_memory_allocated" if device == "cuda" else "max RSS",
                "timed_steps": steps,
                "timed_seconds": round(elapsed, 2),
                "params": count_parameters(trainer.model),
                "matmul_flops_per_token": round(flops_per_token),
                "achieved_gflops": round(achieved / 1e9, 1),
                "device_matmul_gflops": round(peak_rate / 1e9, 1),
                "matmul_utilization": round(achieved / peak_rate, 3),
                "threads": torch.get_num_threads(),
            }
        )
    )


def target_tokens(trainer: Trainer, group) -> int:
    """Real target tokens (pieces + EOS) of one step's batches."""
    return sum(int(trainer.train_data.tgt_lens[i].sum()) + len(i) for i in group)


def synchronizer(device: str):
    """A call that waits for the device's queued work (CUDA), or does nothing (CPU)."""
    return torch.cuda.synchronize if device == "cuda" else lambda: None


def step_flops_per_token(trainer: Trainer, groups, steps: int = 5) -> float:
    """Matrix-multiply FLOPs of a training step (forward and backward) per real target token.

    Counted by torch's FlopCounterMode over `steps` further steps (untimed): mm, addmm, bmm and
    the GEMMs inside the RNN cells where they run as aten ops (CPU). On CUDA the cuDNN RNN is one
    opaque op that the counter does not see, so the count there leaves out the encoder's
    recurrent GEMMs: a lower bound.
    """
    flops = tokens = 0
    for _ in range(steps):
        group = next(groups)[0]
        with FlopCounterMode(display=False) as counter:
            trainer.train_step(group)
        flops += counter.get_total_flops()
        tokens += target_tokens(trainer, group)
    return flops / tokens


def matmul_rate(device: str, dtype: torch.dtype, repeats: int = 5) -> float:
    """This device's dense matmul rate (FLOP/s, median of `repeats`) at `dtype`, measured now."""
    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = synchronizer(device)
    a @ b
    times = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - started)
    return 2 * n**3 / float(np.median(times))


def peer_config(work: Path) -> Path:
    """OpenNMT-py's data and configuration for the peers' model (../shared/notes) on our fixture; cached."""
    config = work / "config.yaml"
    if config.exists():
        return config
    work.mkdir(parents=True, exist_ok=True)
    sp = spm.SentencePieceProcessor(model_file=str(tokenize_dir() / "spm.model"))
    for lang in ("de", "en"):
        lines = read_gz(f"train.{lang}.gz")
        pieces = sp.encode(lines, out_type=str)
        (work / f"train.{lang}.sp").write_text("".join(" ".join(p) + "\n" for p in pieces), encoding="utf-8")
    settings = {
        "save_data": str(work / "run"),
        "src_vocab": str(work / "vocab.src"),
        "tgt_vocab": str(work / "vocab.tgt"),
        "overwrite": True,
        "data": {"train": {"path_src": str(work / "train.de.sp"), "path_tgt": str(work / "train.en.sp")}},
        "encoder_type": "brnn",
        "decoder_type": "rnn",
        "rnn_type": "GRU",
        "word_vec_size": 256,
        "enc_layers": 1,  # OpenNMT-py's default is 2
        "dec_layers": 1,
        "enc_hid_size": 512,  # 2 x 256, bidirectional
        "dec_hid_size": 512,
        "input_feed": 1,
        "global_attention": "mlp",
        "dropout": [0.2],
        "param_init": 0.1,
        "optim": "adam",
        "learning_rate": 0.001,
        "max_grad_norm": 1.0,
        "batch_type": "sents",
        "batch_size": 64,
        "train_steps": 1_000_000,
        "valid_steps": 100_000_000,
        "save_model": str(work / "run" / "model"),
        "save_checkpoint_steps": 100_000_000,
        "report_every": REPORT_EVERY,
        "seed": 1234,
    }
    tmp = work / "config.tmp"
    tmp.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return tmp.rename(config)


def peer(venv: Path, seconds: float, threads: int) -> dict:
    """OpenNMT-py trained for `seconds` after its first report (start-up): target tokens/s and parameters.

    Its report lines give each report_every steps' average target tokens (non-padding, pieces +
    EOS, as ours) and rate; the figure is their total tokens over their total seconds.
    """
    work = CACHE / "opennmt"
    config = peer_config(work)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if not (work / "vocab.tgt").exists():
        cmd = [str(venv / "bin" / "onmt_build_vocab"), "-config", str(config), "-n_sample", "-1"]
        subprocess.run(cmd, check=True, capture_output=True, env=env)
    cmd = [str(venv / "bin" / "onmt_train"), "-config", str(config), "-num_workers", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    params, timed = None, []  # (target tokens, seconds) of each report after the first
    first = True
    for line in proc.stdout:
        if "number of parameters:" in line:
            params = int(line.rsplit(":", 1)[1])
        match = REPORT.search(line)
        if match is None:
            continue
        if first:
            first = False
            continue
        tokens = float(match["tgt_batch"]) * REPORT_EVERY
        timed.append((tokens, tokens / float(match["tgt_rate"])))
        if sum(t for _, t in timed) >= seconds:
            break
    proc.terminate()
    proc.wait()
    if not timed:
        raise RuntimeError(f"OpenNMT-py made no timed report: {' '.join(cmd)}")
    tokens, elapsed = sum(n for n, _ in timed), sum(t for _, t in timed)
    return {
        "variant": f"{PEER} (same run)",
        "tokens_per_s": round(tokens / elapsed, 1),
        "timed_seconds": round(elapsed, 2),
        "timed_steps": REPORT_EVERY * len(timed),
        "params": params,
        "threads": threads,
        "settings": "the notes' peer model: embeddings 256, brnn GRU 2x256, GRU decoder 512 with input "
        "feeding, mlp attention, dropout 0.2, Adam 1e-3, clip 1.0, batch 64 sentences, our spm pieces; "
        "-num_workers 0",
    }


def batch_stats(batch_tokens: int) -> dict:
    """Sentences per batch and padding (padded / real target tokens) of epoch 0's plan."""
    data = TokenData.read(tokenize_dir() / "train.parquet")
    plan = plan_epoch(data, batch_tokens, seed=1, epoch=0)
    tgt = data.tgt_lens + 1
    padded = sum(len(b) * tgt[b].max() for b in plan)
    return {
        "batches_per_epoch": len(plan),
        "sentences_per_batch": round(len(data) / len(plan), 1),
        "target_tokens_per_batch": round(float(tgt.sum()) / len(plan), 1),
        "target_padding_ratio": round(float(padded / tgt.sum()), 3),
        "mean_target_tokens": round(float(np.mean(tgt)), 2),
    }


def main() -> None:
    """Run every variant in a child process; write benchmarks/results/train.json; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (< 2 minutes in all)")
    parser.add_argument("--seconds", type=float, help="training seconds per variant")
    parser.add_argument("--batch-tokens", type=int, default=1500)
    parser.add_argument(
        "--peer", type=Path, help="venv with OpenNMT-py 3.5.1 (benchmarks/peers/opennmt-py.sh): run it too"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds or (20 if args.quick else 180)
    if args.child:
        child(args.child, seconds, args.batch_tokens)
        return

    started = time.monotonic()
    tokenize_dir()  # build the fixture once, outside the timed children
    variants = ["cpu-fp32", "cpu-bf16", "cpu-fp32-inputfeed", "cpu-bf16-inputfeed"]
    if torch.cuda.is_available():
        variants += ["cuda-fp32", "cuda-bf16"]
    results = []
    for variant in variants:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            variant,
            "--seconds",
            str(seconds),
            "--batch-tokens",
            str(args.batch_tokens),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    by = {r["variant"]: r for r in results}
    same_run = peer(args.peer, seconds, usable_cores()) if args.peer else None
    feeding, feeding_bf16 = by["cpu-fp32-inputfeed"]["tokens_per_s"], by["cpu-bf16-inputfeed"]["tokens_per_s"]
    cfg = train_config("cpu", False, args.batch_tokens)
    report = {
        "cpu_fp32_tokens_per_s": by["cpu-fp32"]["tokens_per_s"],
        "cpu_bf16_tokens_per_s": by["cpu-bf16"]["tokens_per_s"],
        "cpu_bf16_speedup": round(by["cpu-bf16"]["tokens_per_s"] / by["cpu-fp32"]["tokens_per_s"], 2),
        "cpu_fp32_peak_memory_gib": by["cpu-fp32"]["peak_memory_gib"],
        "cpu_fp32_matmul_utilization": by["cpu-fp32"]["matmul_utilization"],
        "cpu_bf16_matmul_utilization": by["cpu-bf16"]["matmul_utilization"],
        **{
            f"{v.replace('-', '_')}_{key}": by[v][key]
            for v in ("cuda-fp32", "cuda-bf16")
            if v in by
            for key in ("tokens_per_s", "peak_memory_gib", "matmul_utilization")
        },
        "cpu_fp32_input_feeding_tokens_per_s": feeding,
        "cpu_bf16_input_feeding_tokens_per_s": feeding_bf16,
        "opennmt_same_run_tokens_per_s": same_run and same_run["tokens_per_s"],
        "input_feeding_vs_opennmt_same_run": same_run and round(feeding / same_run["tokens_per_s"], 2),
        "input_feeding_bf16_vs_opennmt_same_run": same_run
        and round(feeding_bf16 / same_run["tokens_per_s"], 2),
        "cpu_bf16_matrix_units": has_bf16_matrix_units(),
        "input_feeding_vs_best_peer_in_notes": round(feeding / max(PEERS.values()), 2),
        "peers_cpu_tokens_per_s_in_notes": PEERS,
        "cpu": cpu_model(),
        "settings": {
            "corpus": "Multi30k train, de -> en, joint sentencepiece unigram 8k (tokenize stage)",
            "preset": cfg.preset,
            "model": cfg.architecture().model_dump(),
            "variants": "cpu-fp32 and cpu-bf16: base as above (output layer over all 8,000 pieces); "
            "cpu-fp32-inputfeed and cpu-bf16-inputfeed: base with input feeding and the output layer over "
            "the target pieces (output_vocabulary='target'), the peers' configuration. bf16 on a CPU: "
            "TrainConfig.bf16, the decoder's and output layer's products in bf16 (nmt.model.bf16_matmul)",
            "batch_tokens": args.batch_tokens,
            "optimizer": "adam",
            "lr": cfg.lr,
            "clip": cfg.clip,
            "timed_seconds_per_variant": seconds,
            "untimed_warmup_steps": 3,
            "quick": args.quick,
            "cpu_threads": usable_cores(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.processor() or platform.machine(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "measure": "real target tokens (pieces + EOS) / wall seconds of training steps",
            "utilization": "matmul FLOPs per target token (FlopCounterMode, 5 untimed steps) x "
            "tokens/s, over a square matmul's rate on the same device and dtype measured in the "
            "same child (2048^3 on CPU, 8192^3 on CUDA)",
        },
        "batches": batch_stats(args.batch_tokens),
        "variants": results,
        "peer_same_run": same_run,
        "benchmark_seconds": round(time.monotonic() - started, 1),
    }
    write_json(RESULT, report)
    print(f"{'variant':<20} {'tgt tok/s':>10} {'peak GiB':>9} {'steps':>6} {'GFLOP/s':>8} {'of matmul':>9}")
    for r in results:
        print(
            f"{r['variant']:<20} {r['tokens_per_s']:>10.0f} {r['peak_memory_gib']:>9.2f} "
            f"{r['timed_steps']:>6} {r['achieved_gflops']:>8.1f} {r['matmul_utilization']:>9.0%}"
        )
    if same_run:
        print(f"{same_run['variant']:<20} {same_run['tokens_per_s']:>10.0f}")
        print(f"input feeding / {PEER}, same run: {report['input_feeding_vs_opennmt_same_run']:.2f}x")
        print(f"  with bf16 products: {report['input_feeding_bf16_vs_opennmt_same_run']:.2f}x")
    for name, rate in PEERS.items():
        print(f"{name:<18} {rate:>6} (peer, from the notes: another day)")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()

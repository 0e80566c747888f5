"""Guided alignment's weight against BLEU and attention AER, on the generated corpus (exact gold links).

    python benchmarks/guided.py [--weights 0 0.1 0.5 1.0] [--steps N] [--train-pairs N] [--quick]

One corpus, tokenizer and align stage (eflomal, intersection links) shared by every weight; then
per weight one training run with the same seed, steps and settings (the `small` preset of the
demo, attention 128), scored on the test split: greedy BLEU, and AER against the generated gold
of the attention under forced decoding of the references (each word encoded alone, argmax
links). The statistical aligner's own AER on the same test pairs (its priors, intersection) is
the mark guided attention aims at. --quick: 2,000 train pairs, weights 0 and 0.5, 40 steps.

Results go to benchmarks/results/guided.json: per weight BLEU, AER, precision, recall and
seconds; the headline (top level) the statistical aligner's AER and each weight's BLEU and AER.
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/guided.py` puts this folder first on sys.path, where benchmarks/tokenize.py
# would shadow the standard library's tokenize module: use the repo root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from nmt.align import aer  # noqa: E402
from nmt.align.corpus import AlignCorpusConfig  # noqa: E402
from nmt.align.given import align_word_pairs  # noqa: E402
from nmt.align.symmetrize import symmetrize  # noqa: E402
from nmt.core.rundir import RunDir  # noqa: E402
from nmt.data.acquire import AcquireConfig, GeneratedSource  # noqa: E402
from nmt.data.pairs import read_split  # noqa: E402
from nmt.evaluate.forced import AlignConfig, align_pairs  # noqa: E402
from nmt.evaluate.scores import score  # noqa: E402
from nmt.model.search import DecodeConfig  # noqa: E402
from nmt.pipeline import acquire_stage, align_stage, tokenize_stage  # noqa: E402
from nmt.text.tokenization import TokenizeConfig  # noqa: E402
from nmt.train.config import TrainConfig  # noqa: E402
from nmt.train.run import run_train  # noqa: E402
from nmt.translate.translator import Translator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "guided.json"


def cpu_model() -> str:
    """lscpu's model name of this machine's processor."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def prepare(run: Path, train_pairs: int, test_pairs: int) -> dict:
    """Acquire, tokenize (the demo's BPE 2000) and align the generated corpus into `run`."""
    sizes = {"train": train_pairs, "valid": 100, "test": test_pairs}
    acquire_stage(run, AcquireConfig(source=GeneratedSource(sizes=sizes)))
    tokenize_stage(run, TokenizeConfig(model_type="bpe", vocab_size=2000))
    return align_stage(run, AlignCorpusConfig(enabled=True))


def test_words(run: Path) -> tuple[list[str], list[str], list[tuple[list[str], list[str]]], list[aer.Gold]]:
    """Sources, references, their word pairs and the gold links of the test split."""
    table = read_split(RunDir(run).acquire / "pairs.parquet", "test")
    src, tgt = table["src"].to_pylist(), table["tgt"].to_pylist()
    words = [(s.split(), t.split()) for s, t in zip(src, tgt, strict=True)]
    return src, tgt, words, aer.read_talp(RunDir(run).acquire / "gold" / "test.talp")


def train_and_score(run: Path, weight: float, steps: int) -> dict:
    """Train a copy of `run` with guided-alignment weight `weight`; BLEU and attention AER on test."""
    cfg = TrainConfig(
        preset="small",
        model={"attn_dim": 128},
        lr=2e-3,
        batch_tokens=4000,
        max_steps=steps,
        max_epochs=None,
        valid_every=steps,
        valid_sentences=100,
        guided_alignment=weight,
        seed=1,
    )
    out = run.parent / f"weight-{weight:g}"
    for name in ("acquire", "tokenize"):
        shutil.copytree(RunDir(run).root / name, out / name, dirs_exist_ok=True)
    started = time.perf_counter()
    summary = run_train(out / "tokenize", cfg, out / "train", align_dir=RunDir(run).align)
    seconds = time.perf_counter() - started
    src, tgt, words, gold = test_words(run)
    translator = Translator.load(out)
    hyps = [r.translation for r in translator.translate(src, DecodeConfig(beam=1))]
    aligned = align_pairs(translator, words, AlignConfig())
    alignment = aer.score([a.links for a in aligned], gold)
    return {
        "weight": weight,
        "bleu": round(score(hyps, tgt)["bleu"], 2),
        "aer": round(alignment.aer, 4),
        "precision": round(alignment.precision, 4),
        "recall": round(alignment.recall, 4),
        "guided": summary["guided_alignment"],
        "steps": summary["steps"],
        "train_seconds": round(seconds, 1),
    }


def statistical_aer(run: Path) -> dict:
    """AER of the run's statistical aligner (priors, intersection) on the test pairs."""
    _, _, words, gold = test_words(run)
    both = align_word_pairs(run, words)
    return aer.score([symmetrize(f, r, "intersection") for f, r in both], gold).as_dict()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 0.5, 1.0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--train-pairs", type=int, default=20000)
    parser.add_argument("--test-pairs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="2,000 pairs, weights 0 and 0.5, 40 steps")
    args = parser.parse_args()
    if args.quick:
        args.weights, args.steps, args.train_pairs, args.test_pairs = [0.0, 0.5], 40, 2000, 100
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="guided-") as work:
        run = Path(work) / "corpus"
        aligned = prepare(run, args.train_pairs, args.test_pairs)
        statistical = statistical_aer(run)
        rows = []
        for weight in args.weights:
            rows.append(train_and_score(run, weight, args.steps))
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "cpu": cpu_model(),
        "threads": os.cpu_count(),
        "statistical_aer": round(statistical["aer"], 4),
        **{f"weight_{r['weight']:g}": {"bleu": r["bleu"], "aer": r["aer"]} for r in rows},
        "settings": {
            "train_pairs": args.train_pairs,
            "test_pairs": args.test_pairs,
            "steps": args.steps,
            "quick": args.quick,
            "align_seconds": aligned.get("seconds"),
        },
        "statistical": statistical,
        "runs": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "statistical")}, indent=2))


if __name__ == "__main__":
    main()

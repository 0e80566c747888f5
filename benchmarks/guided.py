"""Guided alignment's weight against BLEU and attention AER: generated corpus, Hansards and Multi30k.

    python benchmarks/guided.py [--sections generated hansards multi30k] [--weights 0 0.1 0.5]
                                [--steps N] [--directions en-fr fr-en] [--work DIR] [--quick]

Three sections, each kept in the result file when a later call measures only the others:

- generated: one generated corpus (exact gold links), tokenizer and align stage (eflomal,
  intersection links) shared by every weight; per weight one training run (the `small` preset of
  the demo, attention 128), scored on its test split: greedy BLEU, and AER of the attention under
  forced decoding of the references against the generated gold; the statistical aligner's own
  AER on the same test pairs (its priors, intersection) is the mark guided attention aims at.
- hansards: Tatoeba en-fr from ../shared/corpora, trained in both directions (en->fr, fr->en)
  per weight; the 179 sentences of the shared WPT 2003 Hansards half force-decoded by each
  model (benchmarks/alignment.py's settings: surfaces, shift 0/1, argmax; the attention and its
  posterior given the target word), each direction and
  the symmetrisations of the two scored against the gold, beside the statistical aligner
  (eflomal, the run's priors) and the diagonal. --directions en-fr measures one direction.
- multi30k: Multi30k de-en, trained per weight; BLEU of test2016 with beam 5.

The Tatoeba and Multi30k runs use the defaults a user gets (`nmt tokenize`: unigram 8000,
`nmt align-corpus`: eflomal intersection links) and the `small` preset for `--steps` steps
(Adam 1e-3, batch 4096 tokens, seed 1). They live in --work as <corpus>-<src>-<tgt> (the data)
and <corpus>-<src>-<tgt>-w<weight> (a trained copy): a run already trained with these settings
is reused, so sections can be measured in separate calls; a call keeps the previous file's rows
of the weights it does not measure. --quick: the generated section only,
2,000 train pairs, weights 0 and the default (GUIDED_WEIGHT), 40 steps.

Results go to benchmarks/results/guided.json: the headline (top level) per section and weight
BLEU and AER, and the statistical aligner's AER; the rows of every setting below.
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
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from benchmarks.alignment import GOLD_DIR, READINGS, direction, symmetrised_surfaces  # noqa: E402
from benchmarks.machine import cpu_model  # noqa: E402
from nmt.align import aer  # noqa: E402
from nmt.align.corpus import AlignCorpusConfig  # noqa: E402
from nmt.align.given import align_word_pairs, parse_word_pairs  # noqa: E402
from nmt.align.symmetrize import symmetrize  # noqa: E402
from nmt.core.rundir import RunDir  # noqa: E402
from nmt.data.acquire import AcquireConfig, CatalogueSource, GeneratedSource  # noqa: E402
from nmt.data.pairs import read_split  # noqa: E402
from nmt.evaluate.forced import AlignConfig, align_pairs, parse_pairs  # noqa: E402
from nmt.evaluate.scores import score  # noqa: E402
from nmt.model.search import DecodeConfig  # noqa: E402
from nmt.pipeline import acquire_stage, align_stage, demo_config, tokenize_stage  # noqa: E402
from nmt.text.tokenization import TokenizeConfig  # noqa: E402
from nmt.train.config import GUIDED_WEIGHT, TrainConfig  # noqa: E402
from nmt.train.run import run_train  # noqa: E402
from nmt.translate.translator import Translator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "guided.json"
CORPORA = ROOT.parent / "shared" / "corpora"
WEIGHTS = tuple(dict.fromkeys(weights for _, weights in READINGS))  # what alignment.py reads links off


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
    # The demo's training settings, for a fixed number of steps and one validation at the end.
    cfg = demo_config().train.model_copy(
        update={
            "max_minutes": None,
            "max_steps": steps,
            "valid_every": steps,
            "valid_sentences": 100,
            "guided_alignment": weight,
            "seed": 1,
        }
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


def real_run(work: Path, corpus: str, src: str, tgt: str) -> Path:
    """The acquired, tokenized and aligned run of a shared corpus in `work` (made when absent)."""
    run = work / f"{corpus}-{src}-{tgt}"
    if not (run / "align" / "summary.json").exists():
        source = CatalogueSource(corpus=corpus, src_lang=src, tgt_lang=tgt)
        acquire_stage(run, AcquireConfig(source=source, mirror=str(CORPORA)))
        tokenize_stage(run, TokenizeConfig())
        align_stage(run, AlignCorpusConfig(enabled=True))
    return run


def train_real(run: Path, weight: float, steps: int, head: bool = False) -> tuple[Path, dict]:
    """A copy of `run` trained `steps` steps with guided-alignment weight `weight`, and an alignment head
    with `head` (reused when done)."""
    cfg = TrainConfig(
        preset="small",
        model={"align_head": head},
        max_steps=steps,
        max_epochs=None,
        guided_alignment=weight,
        seed=1,
        valid_every=400,
        valid_sentences=300,
    )
    out = run.parent / f"{run.name}-w{weight:g}{'-head' if head else ''}"
    for name in ("acquire", "tokenize", "align"):
        if not (out / name).exists():
            shutil.copytree(run / name, out / name)
    started = time.perf_counter()
    summary = run_train(out / "tokenize", cfg, out / "train", align_dir=RunDir(out).align)
    return out, {
        "weight": weight,
        "steps": summary["steps"],
        "valid": summary.get("best_valid") or summary.get("last_valid"),
        "train_seconds": round(time.perf_counter() - started, 1),
    }


def best(rows: list[dict]) -> dict:
    """The row of lowest AER."""
    return min(rows, key=lambda r: r["aer"])


def hansards_section(work: Path, weights: list[float], steps: int, directions: list[str], head: bool) -> dict:
    """Attention AER on the Hansards half per weight (each direction; symmetrised with both); eflomal's."""
    lines = (GOLD_DIR / "enfr.src-tgt").read_text(encoding="utf-8").splitlines()
    pairs, gold = parse_pairs(lines), aer.read_talp(GOLD_DIR / "enfr.talp")
    runs = {d: real_run(work, "tatoeba", *d.split("-")) for d in directions}
    both = align_word_pairs(real_run(work, "tatoeba", "en", "fr"), parse_word_pairs(lines))
    statistical = {
        m: aer.score([symmetrize(f, r, m) for f, r in both], gold).as_dict()
        for m in ("intersection", "grow-diag-final-and")
    }
    out = {
        "diagonal": aer.score(aer.diagonal_links(pairs), gold).as_dict(),
        "statistical": statistical,
        "runs": [],
    }
    for weight in weights:
        row: dict = {"weight": weight, "align_head": head, "train": {}, "settings": []}
        chosen = {}
        for name, run in runs.items():
            trained, row["train"][name] = train_real(run, weight, steps, head)
            rows, chosen[name] = direction(trained, pairs, gold, name == "fr-en", True)
            row["settings"] += rows
            for weights in {r["weights"] for r in rows}:
                row[f"{name} {weights}"] = best([r for r in rows if r["weights"] == weights])
        if len(chosen) == 2:
            row["symmetrisations"] = symmetrised_surfaces(chosen["en-fr"], chosen["fr-en"], gold, True)
            for weights in {r["weights"] for r in row["symmetrisations"]}:
                row[f"symmetrised {weights}"] = best(
                    [r for r in row["symmetrisations"] if r["weights"] == weights]
                )
        out["runs"].append(row)
        print(json.dumps({k: row[k] for k in row if k not in ("settings", "symmetrisations")}), flush=True)
    return out


def run_key(row: dict) -> tuple[float, bool]:
    """A run's weight and whether it has an alignment head."""
    return row["weight"], row.get("align_head", False)


def merged(previous: dict | None, section: dict) -> dict:
    """`section` with the previous file's runs of the settings it did not measure, in weight order."""
    measured = {run_key(r) for r in section["runs"]}
    kept = [r for r in (previous or {}).get("runs", []) if run_key(r) not in measured]
    return {**section, "runs": sorted(kept + section["runs"], key=run_key)}


def multi30k_section(work: Path, weights: list[float], steps: int) -> dict:
    """Multi30k de-en test2016 BLEU (beam 5) per weight."""
    run = real_run(work, "multi30k", "de", "en")
    table = read_split(RunDir(run).acquire / "pairs.parquet", "test")
    src, tgt = table["src"].to_pylist(), table["tgt"].to_pylist()
    rows = []
    for weight in weights:
        trained, train = train_real(run, weight, steps)
        hyps = [r.translation for r in Translator.load(trained, "cpu").translate(src, DecodeConfig(beam=5))]
        rows.append({"weight": weight, **score(hyps, tgt), "train": train})
        print(json.dumps({k: rows[-1][k] for k in ("weight", "bleu", "chrf")}), flush=True)
    return {"test": "test2016", "sentences": len(src), "beam": 5, "runs": rows}


def generated_section(args) -> dict:
    """The generated corpus: per weight BLEU and attention AER against its exact gold links."""
    with tempfile.TemporaryDirectory(prefix="guided-") as work:
        run = Path(work) / "corpus"
        aligned = prepare(run, args.train_pairs, args.test_pairs)
        statistical = statistical_aer(run)
        rows = []
        for weight in args.weights:
            rows.append(train_and_score(run, weight, args.generated_steps))
            print(json.dumps(rows[-1]), flush=True)
    return {
        "settings": {
            "train_pairs": args.train_pairs,
            "test_pairs": args.test_pairs,
            "steps": args.generated_steps,
            "quick": args.quick,
            "align_seconds": aligned.get("seconds"),
        },
        "statistical": statistical,
        "runs": rows,
    }


def headline(result: dict) -> dict:
    """Per section and weight the figures that decide the default weight."""
    out: dict = {}
    if "generated" in result:
        section = result["generated"]
        out["generated_aer_bleu"] = {
            "statistical_aer": round(section["statistical"]["aer"], 4),
            **{f"weight_{r['weight']:g}": {"bleu": r["bleu"], "aer": r["aer"]} for r in section["runs"]},
        }
    if "hansards" in result:
        section = result["hansards"]
        out["hansards_aer"] = {
            "statistical_aer": round(section["statistical"]["intersection"]["aer"], 4),
            "diagonal_aer": round(section["diagonal"]["aer"], 4),
            **{
                f"weight_{r['weight']:g}{'_head' if r.get('align_head') else ''}": {
                    "steps": max(t["steps"] for t in r["train"].values()),
                    **{
                        f"{k} {w}": round(r[f"{k} {w}"]["aer"], 4)
                        for k in ("en-fr", "fr-en", "symmetrised")
                        for w in WEIGHTS
                        if f"{k} {w}" in r
                    },
                }
                for r in section["runs"]
            },
        }
    if "multi30k" in result:
        out["multi30k_bleu"] = {f"weight_{r['weight']:g}": r["bleu"] for r in result["multi30k"]["runs"]}
    return out


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--sections", nargs="+", default=["generated", "hansards", "multi30k"])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 0.5])
    parser.add_argument("--steps", type=int, default=800, help="training steps of every run")
    parser.add_argument("--directions", nargs="+", default=["en-fr", "fr-en"], help="hansards: Tatoeba runs")
    parser.add_argument("--align-head", action="store_true", help="hansards: train with an alignment head")
    parser.add_argument("--generated-steps", type=int, default=600)
    parser.add_argument("--train-pairs", type=int, default=20000, help="generated corpus")
    parser.add_argument("--test-pairs", type=int, default=300, help="generated corpus")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench" / "guided")
    parser.add_argument("--quick", action="store_true", help="generated section only, small")
    args = parser.parse_args()
    if args.quick:
        args.sections, args.weights, args.generated_steps = ["generated"], [0.0, GUIDED_WEIGHT], 40
        args.train_pairs, args.test_pairs = 2000, 100
    if {"hansards", "multi30k"} & set(args.sections) and not CORPORA.is_dir():
        sys.exit(f"the hansards and multi30k sections need the shared corpora at {CORPORA}")
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result = {k: previous[k] for k in ("generated", "hansards", "multi30k") if k in previous}
    for name in args.sections:
        if name == "generated":
            result[name] = generated_section(args)
        elif name == "hansards":
            section = hansards_section(args.work, args.weights, args.steps, args.directions, args.align_head)
            result[name] = merged(result.get(name), section)
        elif name == "multi30k":
            result[name] = merged(result.get(name), multi30k_section(args.work, args.weights, args.steps))
        else:
            parser.error(f"unknown section {name!r}")
        result[name]["command"] = " ".join(sys.argv)
    out = {
        **headline(result),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - started, 1),
        **result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(headline(result), indent=2))


if __name__ == "__main__":
    main()

"""Word aligners on the WPT 2003 English-French Hansards gold (shared dev half): attention and eflomal.

    python benchmarks/alignment.py --statistical RUN [--forward RUN_EN_FR [--backward RUN_FR_EN]] [--quick]

Statistical (--statistical RUN): the run's Tatoeba en-fr pairs (acquired from ../shared/corpora
into RUN when it has none) are aligned by the align stage (nmt.align.corpus: eflomal both ways,
priors kept), then the 179 gold pairs are aligned with the run's aligner in both ways that
`nmt align --method statistical` offers (nmt.align.given): "priors" (the gold lines alone, from the
stage's priors) and "corpus" (the training pairs and the gold lines together, as WPT evaluations
do). Each direction and symmetrisation is scored, with the time each step took. --quick skips
the "corpus" way and reuses the run's align stage when it has one.

Attention (--forward): force-decodes the 179 gold sentence pairs with the English->French model
(and, given, the French->English model read in reverse), reads word links off the attention under
every setting (surface "tokens": each gold token encoded alone, or "detokenized": the rebuilt raw
sentence, nmt.surface; shift 0/1: the step that predicts the word or the step where it is the
decoder input; weights "attention" or "posterior": the attention given the target word,
Seq2Seq.source_posterior; argmax or thresholds), scores each against the gold (AER, precision, recall) next
to the diagonal baseline and the published figures for this test set, and, for each surface,
symmetrises the two directions with the best setting of each: hard (intersection, union,
grow-diag-final of the links) and soft (mean or geometric mean of the two attention matrices,
then argmax or thresholds). --quick scores shift 0 and 1 with argmax only.

Results go to benchmarks/results/alignment.json; a section not measured in this call (attention
without --forward, statistical without --statistical) is kept from the previous file. The best
AER of each aligner is a top-level headline.
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/alignment.py` puts this folder first on sys.path, where benchmarks/tokenize.py
# would shadow the standard library's tokenize module: use the repo root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from benchmarks.machine import cpu_model  # noqa: E402
from nmt.align import aer  # noqa: E402
from nmt.align.corpus import run_align_corpus  # noqa: E402
from nmt.align.given import align_word_pairs, parse_word_pairs  # noqa: E402
from nmt.align.links import matrix_links  # noqa: E402
from nmt.align.symmetrize import METHODS, SOFT_METHODS, soft_symmetrize, symmetrize  # noqa: E402
from nmt.core.atomic import read_json  # noqa: E402
from nmt.data.acquire import AcquireConfig, CatalogueSource, run_acquire  # noqa: E402
from nmt.evaluate.forced import (  # noqa: E402
    AlignConfig,
    WordAlignment,
    align_pairs,
    parse_pairs,
    read_links,
    run_languages,
)
from nmt.translate.translator import Translator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
GOLD_DIR = CORPORA / "alignments" / "wpt2003-hansards-enfr"
RESULTS = ROOT / "benchmarks" / "results" / "alignment.json"
# Published AER on this test set (full set; ours is the shared 40% dev half), for reference.
PUBLISHED = {"fast_align": 0.105, "GIZA++": 0.059}
SURFACES = ("tokens", "detokenized")
# (shift, weights) of each forced decoding: the attention of the step that predicts the word or
# of the step that reads it, the attention's posterior given the word (its own step only), and the
# alignment head's weights (models trained with model.align_head only).
READINGS = ((0, "attention"), (1, "attention"), (0, "posterior"), (0, "head"))


def thresholds(quick: bool) -> list[float | None]:
    """Argmax (None) and the thresholds to read links with."""
    return [None] if quick else [None, 0.1, 0.2, 0.3]


def direction(run: Path, pairs, gold, reverse: bool, quick: bool) -> tuple[list[dict], dict[tuple, tuple]]:
    """Scores of every setting for one model, and the best setting and its alignments per (surface, weights).

    One forced decoding per surface and reading (the attention at shift 0 and 1, its posterior
    given the target word, and the alignment head where the model has one); every threshold is
    read off its matrix.
    """
    translator = Translator.load(run, "cpu")
    languages = run_languages(run)
    readings = [r for r in READINGS if r[1] != "head" or translator.model.align_head is not None]
    rows, best = [], {}
    for surface in SURFACES:
        for shift, weights in readings:
            started = time.perf_counter()
            cfg = AlignConfig(surface=surface, shift=shift, reverse=reverse, weights=weights)
            aligned = align_pairs(translator, pairs, cfg, languages)
            seconds = round(time.perf_counter() - started, 2)
            for threshold in thresholds(quick):
                links = [read_links(a.attention, threshold, reverse) if a else set() for a in aligned]
                s = aer.score(links, gold)
                setting = {"surface": surface, "weights": weights, "shift": shift, "threshold": threshold}
                rows.append(
                    {
                        "model": str(run),
                        "reverse": reverse,
                        **setting,
                        **s.as_dict(),
                        "decode_seconds": seconds,
                    }
                )
                key = (surface, weights)
                if key not in best or s.aer < best[key][0]:
                    chosen = [replace(a, links=x) if a else None for a, x in zip(aligned, links, strict=True)]
                    best[key] = (s.aer, setting, chosen)
    return rows, {key: (setting, chosen) for key, (_, setting, chosen) in best.items()}


def symmetrised_rows(
    forward: list[WordAlignment | None], backward: list[WordAlignment | None], gold, quick: bool
) -> list[dict]:
    """Scores of the hard and soft symmetrisations of two directions' alignments of one surface."""
    pairs = list(zip(forward, backward, strict=True))
    rows = []
    for method in METHODS:
        links = [symmetrize(f.links, b.links, method) if f and b else set() for f, b in pairs]
        rows.append({"method": method, "threshold": None, **aer.score(links, gold).as_dict()})
    for method in SOFT_METHODS:
        matrices = [soft_symmetrize(f.attention, b.attention, method) if f and b else None for f, b in pairs]
        for threshold in thresholds(quick):
            links = [set(matrix_links(m, threshold)) if m is not None else set() for m in matrices]
            rows.append(
                {"method": f"soft-{method}", "threshold": threshold, **aer.score(links, gold).as_dict()}
            )
    return rows


def symmetrised_surfaces(forward: dict, backward: dict, gold, quick: bool) -> list[dict]:
    """Per (surface, weights), the symmetrisations of each direction's best setting (from `direction`)."""
    rows = []
    for (surface, weights), (f_setting, f_aligned) in forward.items():
        b_setting, b_aligned = backward[surface, weights]
        used = {"surface": surface, "weights": weights, "forward": f_setting, "backward": b_setting}
        rows += [{**used, **r} for r in symmetrised_rows(f_aligned, b_aligned, gold, quick)]
    return rows


def reading(row: dict) -> str:
    """How a row's links were read: argmax or a threshold."""
    return "argmax" if row["threshold"] is None else f"threshold {row['threshold']}"


def tatoeba_run(run: Path) -> dict:
    """Acquire the Tatoeba en-fr pairs from the shared corpora into `run` unless it has them already."""
    if (run / "acquire" / "pairs.parquet").exists():
        return {"acquired": False}
    started = time.perf_counter()
    cfg = AcquireConfig(
        source=CatalogueSource(corpus="tatoeba", src_lang="en", tgt_lang="fr"), mirror=str(CORPORA)
    )
    summary = run_acquire(cfg, run / "acquire")
    return {
        "acquired": True,
        "counts": summary.get("counts"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def statistical_section(run: Path, lines: list[str], gold, quick: bool) -> dict:
    """eflomal on the run's pairs (the align stage), then the gold pairs by priors and with the corpus."""
    acquired = tatoeba_run(run)
    done = run / "align" / "summary.json"
    stage = {**read_json(done), "reused": True} if quick and done.exists() else run_align_corpus(run)
    pairs = parse_word_pairs(lines)
    rows = []
    for mode in ("priors",) if quick else ("priors", "corpus"):
        started = time.perf_counter()
        both = align_word_pairs(run, pairs, mode)
        seconds = round(time.perf_counter() - started, 1)
        candidates = {"forward": [f for f, _ in both], "reverse": [r for _, r in both]}
        candidates.update({m: [symmetrize(f, r, m) for f, r in both] for m in METHODS})
        for name, links in candidates.items():
            rows.append({"mode": mode, "links": name, **aer.score(links, gold).as_dict(), "seconds": seconds})
    return {
        "run": str(run),
        "acquire": acquired,
        "align_stage": {
            k: stage.get(k) for k in ("pairs", "aligner", "config", "align_seconds", "seconds", "reused")
        },
        "rows": rows,
    }


def attention_section(args, pairs, gold) -> dict:
    """Every attention setting of the forward (and backward) run, and their symmetrisations."""
    rows, forward = direction(args.forward, pairs, gold, False, args.quick)
    symmetrised = []
    if args.backward:
        backward_rows, backward = direction(args.backward, pairs, gold, True, args.quick)
        rows += backward_rows
        symmetrised = symmetrised_surfaces(forward, backward, gold, args.quick)
    return {"settings": rows, "symmetrised": symmetrised}


def print_table(result: dict, diagonal) -> None:
    """The scores of every aligner, one line each."""
    print(f"{'aligner':<54} {'AER':>6} {'prec':>6} {'recall':>6}")
    print(
        f"{'diagonal baseline':<54} {diagonal.aer:>6.3f} {diagonal.precision:>6.3f} {diagonal.recall:>6.3f}"
    )
    for r in result.get("statistical", {}).get("rows", []):
        name = f"eflomal ({r['mode']}) {r['links']}"
        print(f"{name:<54} {r['aer']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f}  {r['seconds']} s")
    for r in result.get("settings", []):
        way = "fr->en" if r["reverse"] else "en->fr"
        name = f"{way} {r['surface']} {r['weights']} shift {r['shift']} {reading(r)}"
        print(f"{name:<54} {r['aer']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f}")
    for r in result.get("symmetrised", []):
        soft = f" {reading(r)}" if r["method"].startswith("soft-") else ""
        name = f"symmetrised {r['surface']} {r['weights']}: {r['method']}{soft}"
        print(f"{name:<54} {r['aer']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f}")
    for name, value in PUBLISHED.items():
        print(f"{name + ' (published, full set)':<54} {value:>6.3f}")


def main() -> None:
    """Score the aligners against the Hansards gold and write the JSON result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--statistical", type=Path, help="run directory of Tatoeba en-fr pairs (made if absent)"
    )
    parser.add_argument("--forward", type=Path, help="run directory of the en->fr model")
    parser.add_argument("--backward", type=Path, help="run directory of the fr->en model")
    parser.add_argument("--quick", action="store_true", help="attention: shift 0/1 argmax; eflomal: priors")
    args = parser.parse_args()
    if not (args.statistical or args.forward):
        parser.error("give --statistical RUN, --forward RUN or both")
    if not GOLD_DIR.is_dir():
        sys.exit(f"needs the gold alignments at {GOLD_DIR}")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    lines = (GOLD_DIR / "enfr.src-tgt").read_text(encoding="utf-8").splitlines()
    pairs = parse_pairs(lines)
    gold = aer.read_talp(GOLD_DIR / "enfr.talp")
    diagonal = aer.score(aer.diagonal_links(pairs), gold)
    result = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    command = " ".join(sys.argv)
    if args.statistical:
        result["statistical"] = {
            **statistical_section(args.statistical, lines, gold, args.quick),
            "command": command,
        }
    if args.forward:
        result.update(attention_section(args, pairs, gold))
        result["attention_command"] = command
    readings = result.get("settings", []) + result.get("symmetrised", [])
    attention = [r["aer"] for r in readings if r.get("weights", "attention") == "attention"]
    posterior = [r["aer"] for r in readings if r.get("weights") == "posterior"]
    statistical = [r["aer"] for r in result.get("statistical", {}).get("rows", [])]
    headline = {
        "best_aer": round(min(attention + posterior + statistical), 4),
        "statistical_best_aer": round(min(statistical), 4) if statistical else None,
        "attention_best_aer": round(min(attention), 4) if attention else None,
        "posterior_best_aer": round(min(posterior), 4) if posterior else None,
        "diagonal_aer": round(diagonal.aer, 4),
        "published_aer_full_set": PUBLISHED,
        "cpu": cpu_model(),
        "gold": str(GOLD_DIR),
        "sentences": len(gold),
    }
    rest = {k: v for k, v in result.items() if k not in headline and k not in ("machine", "command")}
    result = {
        **headline,
        **rest,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result, diagonal)
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()

"""Attention as a word aligner: AER on the WPT 2003 English-French Hansards gold (shared dev half).

    python benchmarks/alignment.py --forward RUN_EN_FR [--backward RUN_FR_EN] [--quick]

Force-decodes the 179 gold sentence pairs with the English->French model (and, given, the
French->English model read in reverse), reads word links off the attention under every setting
(shift 0/1: the step that predicts the word or the step where it is the decoder input; argmax or
thresholds), scores each against the gold (AER, precision, recall) next to the diagonal baseline
and the published figures for this test set, and symmetrises the two directions (intersection,
union, grow-diag-final) with the best setting of each. --quick scores shift 0 and 1 with argmax
only. Results go to benchmarks/results/alignment.json; the best AER is the top-level headline.
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
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from nmt import aer  # noqa: E402
from nmt.align import AlignConfig, align_pairs, parse_pairs  # noqa: E402
from nmt.symmetrize import METHODS, symmetrize  # noqa: E402
from nmt.translate import Translator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOLD_DIR = ROOT.parent / "shared" / "corpora" / "alignments" / "wpt2003-hansards-enfr"
RESULTS = ROOT / "benchmarks" / "results" / "alignment.json"
# Published AER on this test set (full set; ours is the shared 40% dev half), for reference.
PUBLISHED = {"fast_align": 0.105, "GIZA++": 0.059}


def settings(quick: bool) -> list[AlignConfig]:
    """The attention-reading settings to score."""
    thresholds = [None] if quick else [None, 0.1, 0.2, 0.3]
    return [AlignConfig(shift=s, threshold=t) for s in (0, 1) for t in thresholds]


def direction(run: Path, pairs, gold, reverse: bool, quick: bool) -> tuple[list[dict], list[set]]:
    """Scores of every setting for one model, and the links of its best setting."""
    translator = Translator.load(run, "cpu")
    rows, best = [], None
    for cfg in settings(quick):
        cfg = cfg.model_copy(update={"reverse": reverse})
        started = time.perf_counter()
        links = [a.links if a else set() for a in align_pairs(translator, pairs, cfg)]
        s = aer.score(links, gold)
        rows.append(
            {
                "model": str(run),
                "reverse": reverse,
                "shift": cfg.shift,
                "threshold": cfg.threshold,
                **s.as_dict(),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        if best is None or s.aer < best[0]:
            best = (s.aer, links)
    return rows, best[1]


def main() -> None:
    """Score the runs' attention against the Hansards gold and write the JSON result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--forward", type=Path, required=True, help="run directory of the en->fr model")
    parser.add_argument("--backward", type=Path, help="run directory of the fr->en model")
    parser.add_argument("--quick", action="store_true", help="shift 0/1 with argmax only")
    args = parser.parse_args()
    if not GOLD_DIR.is_dir():
        sys.exit(f"needs the gold alignments at {GOLD_DIR}")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    lines = (GOLD_DIR / "enfr.src-tgt").read_text(encoding="utf-8").splitlines()
    pairs = parse_pairs(lines)
    gold = aer.read_talp(GOLD_DIR / "enfr.talp")
    diagonal = aer.score(aer.diagonal_links(pairs), gold)
    rows, forward = direction(args.forward, pairs, gold, False, args.quick)
    symmetrised = []
    if args.backward:
        backward_rows, backward = direction(args.backward, pairs, gold, True, args.quick)
        rows += backward_rows
        for method in METHODS:
            links = [symmetrize(f, b, method) for f, b in zip(forward, backward, strict=True)]
            symmetrised.append({"method": method, **aer.score(links, gold).as_dict()})
    best = min([r["aer"] for r in rows] + [r["aer"] for r in symmetrised])
    result = {
        "best_aer": round(best, 4),
        "diagonal_aer": round(diagonal.aer, 4),
        "published_aer_full_set": PUBLISHED,
        "gold": str(GOLD_DIR),
        "sentences": len(gold),
        "settings": rows,
        "symmetrised": symmetrised,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "command": " ".join(sys.argv),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'aligner':<44} {'AER':>6} {'prec':>6} {'recall':>6}")
    print(
        f"{'diagonal baseline':<44} {diagonal.aer:>6.3f} {diagonal.precision:>6.3f} {diagonal.recall:>6.3f}"
    )
    for r in rows:
        name = f"{'fr->en' if r['reverse'] else 'en->fr'} shift {r['shift']} threshold {r['threshold']}"
        print(f"{name:<44} {r['aer']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f}")
    for r in symmetrised:
        print(
            f"{'symmetrised: ' + r['method']:<44} {r['aer']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f}"
        )
    for name, value in PUBLISHED.items():
        print(f"{name + ' (published, full set)':<44} {value:>6.3f}")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()

"""Statistical links of given `source ||| target` lines with a run's aligner (`nmt align`).

The sides are already tokenized: their words are the whitespace-separated tokens
(nmt.align.words.tokenized_words), as gold sets count them. Two ways to use what the run learnt:

    priors   eflomal aligns only the given lines, starting from the priors the align stage
             kept (<run>/align/priors.txt): seconds, whatever the corpus size.
    corpus   eflomal aligns the run's training pairs and the given lines together, as WPT
             evaluations do (the lines' own statistics count too); it takes as long as the align
             stage.

`nmt align` uses the priors by default: they cost seconds whatever the corpus size, where the
corpus way costs a whole align stage per call. On the WPT 2003 Hansards shared half with a
Tatoeba en-fr run (benchmarks/alignment.py, two runs; eflomal has no seed) the corpus way is
more accurate: intersection AER 0.100 to 0.107 against 0.112, grow-diag-final-and 0.110 to 0.113
against 0.133, in about 95 s against 12 to 15 s on 2 busy cores. The intersection is the default
symmetrisation, the lowest AER both ways; grow-diag keeps more links (sure recall 0.89 against
0.85) at up to 0.011 more AER.

A line that is not a pair of non-empty sides gets an empty line of links and counts in `errors`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Literal

from nmt.align import aer
from nmt.align.aer import parse_pharaoh
from nmt.align.corpus import align_dir, write_aligner_input
from nmt.align.links import Link, pharaoh
from nmt.align.statistical import StatisticalConfig, align_files, eflomal_installed, load_eflomal
from nmt.align.symmetrize import METHODS, Method, symmetrize
from nmt.align.words import aligner_line, tokenized_words, words
from nmt.core.atomic import read_json, write_json, write_text
from nmt.core.rundir import RunDir

log = logging.getLogger(__name__)

Mode = Literal["priors", "corpus"]
WordPair = tuple[list[str], list[str]]


def parse_word_pairs(lines: list[str]) -> list[WordPair | None]:
    """Words of each `source ||| target` line; None where a line is not a pair of non-empty sides."""
    out: list[WordPair | None] = []
    for line in lines:
        src, sep, tgt = line.partition("|||")
        src_words, tgt_words = tokenized_words(src), tokenized_words(tgt)
        out.append((src_words, tgt_words) if sep and src_words and tgt_words else None)
    return out


def align_word_pairs(
    run_dir: Path, pairs: list[WordPair | None], mode: Mode = "priors"
) -> list[tuple[set[Link], set[Link]]]:
    """(forward, reverse) links of word pairs with the run's aligner; a None pair gets no links."""
    stage = align_dir(run_dir) / "summary.json"
    settings = read_json(stage) if stage.exists() else {}
    cfg = StatisticalConfig.model_validate(settings.get("config", {}).get("aligner", {}))
    priors = align_dir(run_dir) / "priors.txt"
    if mode == "priors" and not priors.exists():
        raise FileNotFoundError(f"{priors} does not exist: run `nmt align-corpus --run {run_dir}` first")
    load_eflomal()
    with tempfile.TemporaryDirectory(prefix="nmt-align-") as work:
        src, tgt, fwd, rev = (Path(work) / name for name in ("src.txt", "tgt.txt", "forward", "reverse"))
        skip = 0
        if mode == "corpus":
            skip = write_aligner_input(
                RunDir(run_dir).acquire / "pairs.parquet", settings.get("split", "train"), src, tgt
            )
        with open(src, "a", encoding="utf-8") as s, open(tgt, "a", encoding="utf-8") as t:
            for pair in pairs:
                s.write((aligner_line(pair[0]) if pair else "") + "\n")
                t.write((aligner_line(pair[1]) if pair else "") + "\n")
        align_files(src, tgt, fwd, rev, cfg, priors if mode == "priors" else None)
        with open(fwd, encoding="utf-8") as f, open(rev, encoding="utf-8") as r:
            forward = f.read().splitlines()[skip:]
            reverse = r.read().splitlines()[skip:]
    return [
        (parse_pharaoh(f, f"forward links, pair {k + 1}"), parse_pharaoh(r, f"reverse links, pair {k + 1}"))
        for k, (f, r) in enumerate(zip(forward, reverse, strict=True))
    ]


def translation_links(
    run_dir: Path | None, sources: list[str], translations: list[str], method: Method = "intersection"
) -> list[tuple[list[str], list[str], str | None]]:
    """Words (nmt.align.words) of each source and translation and their statistical links (Pharaoh).

    The links come from the run's aligner with its priors, symmetrised by `method`; they are
    None where the run has no priors or eflomal is not installed, "" for an empty side.
    """
    pairs = [(words(s), words(t)) for s, t in zip(sources, translations, strict=True)]
    if run_dir is None or not (align_dir(run_dir) / "priors.txt").exists() or not eflomal_installed():
        return [(s, t, None) for s, t in pairs]
    both = align_word_pairs(run_dir, [(s, t) if s and t else None for s, t in pairs])
    return [(s, t, pharaoh(symmetrize(f, r, method))) for (s, t), (f, r) in zip(pairs, both, strict=True)]


def run_align_given(
    run_dir: Path,
    pairs: Path,
    out: Path,
    mode: Mode = "priors",
    method: Method = "intersection",
    gold: Path | None = None,
) -> dict:
    """Align the `source ||| target` lines of `pairs` into Pharaoh links at `out` (symmetrised by `method`).

    With `gold` (talp), the summary scores both directions and every symmetrisation.
    """
    started = time.perf_counter()
    lines = Path(pairs).read_text(encoding="utf-8").splitlines()
    word_pairs = parse_word_pairs(lines)
    both = align_word_pairs(run_dir, word_pairs, mode)
    chosen = [symmetrize(f, r, method) for f, r in both]
    write_text(out, "".join(pharaoh(x) + "\n" for x in chosen))
    summary = {
        "pairs": len(lines),
        "errors": sum(p is None for p in word_pairs),
        "aligner": "statistical",
        "mode": mode,
        "symmetrization": method,
        "run": str(run_dir),
        "out": str(out),
    }
    if gold is not None:
        gold_links = aer.read_talp(gold)
        candidates = {"forward": [f for f, _ in both], "reverse": [r for _, r in both]}
        candidates.update({m: [symmetrize(f, r, m) for f, r in both] for m in METHODS})
        summary["gold"] = str(gold)
        summary["scores"] = aer.score(chosen, gold_links).as_dict()
        summary["scores_by_method"] = {k: aer.score(v, gold_links).as_dict() for k, v in candidates.items()}
    summary["seconds"] = round(time.perf_counter() - started, 3)
    write_json(Path(out).with_suffix(".json"), summary)
    log.info("align: %d pairs (%s, %s) in %.1f s -> %s", len(lines), mode, method, summary["seconds"], out)
    return summary

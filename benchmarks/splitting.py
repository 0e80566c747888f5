"""Sentence splitters compared on paragraphs with known boundaries: boundary errors and speed.

Test set, built at run time (nothing copied into the repository):
  corpus  paragraphs of 2 to 6 consecutive sentences joined by one space, from Multi30k train
          (en, de, fr) and Tatoeba fra-eng (en, fr; consecutive duplicates dropped), taking only
          sentences that end in ".", "!", "?" or "…" (optionally a closing quote or bracket);
          a caption without one gives a boundary no splitter can see. Some entries are two
          sentences ("Hi! How are you?", about 1% of Tatoeba's, 0.2% of Multi30k's): an entry
          that most of the libraries (3 of 5, or 2 of 3 where only 3 support the language) split
          is taken for two and left out, so that splitting it is not counted as an error.
  hard    tests/data/splitting_cases.json: handwritten abbreviations, numbers, quotes, ellipses,
          and Chinese and Japanese (no spaces between sentences).
A boundary is the offset where a sentence after the first starts. False splits: boundaries a
candidate puts where the gold has none; missed: gold boundaries it lacks. Speed: gold sentences
per second of splitting, one paragraph at a time (the way nmt.text.documents calls it).

    .venv/bin/python benchmarks/splitting.py [--quick] [--paragraphs N]

The project installs sentence-splitter and sentencex; `pip install pysbd blingfire syntok` adds the
other candidates (any not installed is left out, and listed under "missing").
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/splitting.py` puts benchmarks/ first on sys.path, where benchmarks/tokenize.py
# would shadow the standard library's tokenize module: drop it, put the repository root first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import functools  # noqa: E402
import gzip  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.machine import cpu_model  # noqa: E402
from nmt.text.documents import split_sentences  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
CASES = ROOT / "tests" / "data" / "splitting_cases.json"
OUT = ROOT / "benchmarks" / "results" / "splitting.json"
LANGS = ("en", "de", "fr", "zh", "ja")
_ENDS = re.compile(r"""[.!?…]["'”’»)\]]*$""")

Spans = list[tuple[int, int]]
Splitter = Callable[[str], Spans]


def _located(text: str, pieces: list[str]) -> Spans:
    """Spans of `pieces` (sentences as a library returned them) found in order in `text`."""
    spans, pos = [], 0
    for piece in pieces:
        core = piece.strip()
        at = text.find(core, pos) if core else -1
        if at >= 0:
            spans.append((at, at + len(core)))
            pos = at + len(core)
    return spans


def _pysbd(lang: str) -> Splitter:
    import pysbd

    seg = pysbd.Segmenter(language=lang, clean=False)
    return lambda text: _located(text, seg.segment(text))


def _moses(lang: str) -> Splitter:
    from sentence_splitter import SentenceSplitter

    splitter = SentenceSplitter(language=lang)
    return lambda text: _located(text, splitter.split(text))


def _blingfire(lang: str) -> Splitter:
    import blingfire

    def split(text: str) -> Spans:
        try:
            return [tuple(x) for x in blingfire.text_to_sentences_and_offsets(text)[1]]
        except AssertionError:  # blingfire 0.1.8 miscounts its offsets on some inputs
            return _located(text, blingfire.text_to_sentences(text).split("\n"))

    return split


def _sentencex(lang: str) -> Splitter:
    import sentencex

    return lambda text: _located(text, list(sentencex.segment(lang, text)))


def _syntok(lang: str) -> Splitter:
    import syntok.segmenter as segmenter

    def split(text: str) -> Spans:
        spans = []
        for paragraph in segmenter.analyze(text):
            for sentence in paragraph:
                start, end = sentence[0].offset, sentence[-1].offset + len(sentence[-1].value)
                spans.append((start, end))
        return spans

    return split


def _nmt(lang: str) -> Splitter:
    return lambda text: split_sentences(text, lang)


CANDIDATES: dict[str, tuple[Callable[[str], Splitter], frozenset[str]]] = {
    "nmt": (_nmt, frozenset(LANGS)),
    "pysbd": (_pysbd, frozenset(LANGS)),
    "sentence-splitter": (_moses, frozenset({"en", "de", "fr"})),  # no zh/ja prefix files
    "blingfire": (_blingfire, frozenset(LANGS)),
    "sentencex": (_sentencex, frozenset(LANGS)),
    "syntok": (_syntok, frozenset({"en", "de", "fr"})),  # its rules are for Latin script
}


MODULES = {"pysbd": "pysbd", "sentence-splitter": "sentence_splitter", "blingfire": "blingfire"}
MODULES |= {"sentencex": "sentencex", "syntok": "syntok"}


def installed() -> list[str]:
    """The candidates whose library is installed (nmt always is)."""
    return [n for n in CANDIDATES if n not in MODULES or importlib.util.find_spec(MODULES[n]) is not None]


def _ended(lines: list[str]) -> list[str]:
    out, last = [], None
    for line in lines:
        line = line.strip()
        if line and line != last and _ENDS.search(line):
            out.append(line)
        last = line
    return out


def corpus_sentences() -> dict[str, dict[str, list[str]]]:
    """{lang: {source: sentences}} from the shared corpora, in file order."""
    found: dict[str, dict[str, list[str]]] = {lang: {} for lang in ("en", "de", "fr")}
    for lang in ("en", "de", "fr"):
        path = CORPORA / "multi30k" / f"train.{lang}.gz"
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            found[lang]["multi30k"] = _ended(fh.read().splitlines())
    with zipfile.ZipFile(CORPORA / "tatoeba" / "fra-eng.zip") as zf:
        rows = [line.split("\t") for line in zf.read("fra-eng/fra.txt").decode("utf-8").splitlines()]
    found["en"]["tatoeba"] = _ended([r[0] for r in rows if len(r) >= 2])
    found["fr"]["tatoeba"] = _ended([r[1] for r in rows if len(r) >= 2])
    return found


def paragraphs(
    sentences: list[str], count: int, rng: random.Random, single: Callable[[str], bool]
) -> tuple[list[list[str]], int]:
    """`count` runs of 2 to 6 consecutive sentences from seeded random places, and how many
    entries `single` rejected (left out of their run)."""
    out, dropped = [], 0
    for _ in range(count):
        size = rng.randint(2, 6)
        start = rng.randrange(len(sentences) - size)
        run = sentences[start : start + size]
        kept = [x for x in run if single(x)]
        dropped += len(run) - len(kept)
        out.append(kept)
    return out, dropped


def majority_single(lang: str) -> Callable[[str], bool]:
    """Whether fewer than most of the libraries supporting `lang` split an entry (see the docstring)."""
    libraries = [
        CANDIDATES[name][0](lang) for name in installed() if name != "nmt" and lang in CANDIDATES[name][1]
    ]

    @functools.cache
    def single(text: str) -> bool:
        return sum(len(split(text)) > 1 for split in libraries) * 2 <= len(libraries)

    return single


def gold_boundaries(sentences: list[str], sep: str) -> tuple[str, set[int]]:
    """The paragraph and the offsets where its sentences after the first start."""
    starts, pos = [], 0
    for s in sentences:
        starts.append(pos)
        pos += len(s) + len(sep)
    return sep.join(sentences), set(starts[1:])


def score(split: Splitter, items: list[tuple[str, set[int]]], sentences: int) -> dict:
    """Boundary errors and speed of one splitter on (paragraph, gold boundaries) items."""
    false = missed = 0
    t0 = time.perf_counter()
    found = [split(text) for text, _ in items]
    seconds = time.perf_counter() - t0
    for (_, gold), spans in zip(items, found, strict=True):
        predicted = {start for start, _ in spans[1:]}
        false += len(predicted - gold)
        missed += len(gold - predicted)
    return {
        "false_splits": false,
        "missed_splits": missed,
        "errors": false + missed,
        "sentences_per_second": round(sentences / max(seconds, 1e-9)),
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--quick", action="store_true", help="400 paragraphs per corpus (under 2 minutes)")
    parser.add_argument("--paragraphs", type=int, default=None, help="paragraphs per corpus (default 3000)")
    args = parser.parse_args()
    count = args.paragraphs or (400 if args.quick else 3000)
    rng = random.Random(17)
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    sets: dict[str, dict[str, list[list[str]]]] = {lang: {} for lang in LANGS}
    dropped: dict[str, dict[str, int]] = {lang: {} for lang in LANGS}
    for lang, sources in corpus_sentences().items():
        single = majority_single(lang)
        for source, sentences in sources.items():
            sets[lang][source], dropped[lang][source] = paragraphs(sentences, count, rng, single)
    for lang in LANGS:
        sets[lang]["hard"] = cases["cases"][lang]
    results: dict[str, dict] = {}
    for name in installed():
        make, langs = CANDIDATES[name]
        results[name] = {}
        for lang in sorted(langs):
            split = make(lang)
            sep = cases["separators"][lang]
            results[name][lang] = {}
            for source, paras in sets[lang].items():
                items = [gold_boundaries(p, sep) for p in paras]
                results[name][lang][source] = score(split, items, sum(len(p) for p in paras))
            print(name, lang, results[name][lang], flush=True)
    headline = {
        name: {lang: sum(r["errors"] for r in per_source.values()) for lang, per_source in by_lang.items()}
        for name, by_lang in results.items()
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "cpu": cpu_model(),
        "quick": args.quick,
        "errors_per_candidate": headline,  # false + missed splits, all test sets of each language
        "errors_total": {name: sum(v.values()) for name, v in headline.items()},
        "test_set": {
            lang: {
                source: {
                    "paragraphs": len(p),
                    "sentences": sum(len(x) for x in p),
                    "entries_left_out_as_two_sentences": dropped[lang].get(source, 0),
                }
                for source, p in s.items()
            }
            for lang, s in sets.items()
        },
        "missing": [n for n in CANDIDATES if n not in installed()],
        "paragraphs_per_corpus": count,
        "seed": 17,
        "versions": _versions(),
        "results": results,
    }
    OUT.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: summary[k] for k in ("errors_per_candidate", "errors_total")}, indent=1))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("pysbd", "sentence-splitter", "blingfire", "sentencex", "syntok"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


if __name__ == "__main__":
    main()

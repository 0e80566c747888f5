"""Forced alignment of given pairs: word links from teacher-forced attention."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from translate_fixtures import make_run_dir, make_translator

from nmt.align.links import pharaoh
from nmt.evaluate.forced import AlignConfig, align_pairs, parse_pairs, run_align
from nmt.model.search import DECODE_DEFAULTS, DecodeConfig

PAIRS = [
    "ein mann läuft ||| a man runs",
    "der große hund spielt im park ||| the big dog plays in the park",
    "not a pair",
    "katze ||| cat .",
]


def align_lines(translator, lines, cfg=None, decode=DECODE_DEFAULTS) -> tuple[list[str], int]:
    """Pharaoh links of `source ||| target` lines and the number of lines that are not pairs."""
    aligned = align_pairs(translator, parse_pairs(lines), cfg or AlignConfig(), decode=decode)
    return [pharaoh(a.links) if a else "" for a in aligned], sum(a is None for a in aligned)


def parse(links: str) -> list[tuple[int, int]]:
    return [tuple(map(int, x.split("-"))) for x in links.split()]


def test_align_lines_links_words_in_range():
    translator = make_translator()
    links, errors = align_lines(translator, PAIRS, decode=DecodeConfig(batch_tokens=16))
    assert errors == 1 and links[2] == ""
    for line, got in zip(PAIRS, links, strict=True):
        if "|||" not in line:
            continue
        src, tgt = (side.split() for side in line.split("|||"))
        pairs = parse(got)
        assert {j for _, j in pairs} == set(range(len(tgt)))  # every target word is linked
        assert all(0 <= i < len(src) for i, _ in pairs)
    alone = [align_lines(translator, [line])[0][0] for line in PAIRS]
    assert alone == links  # batching does not change the links


def test_run_align_writes_one_line_per_pair(tmp_path):
    run = make_run_dir(tmp_path / "run")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(PAIRS) + "\n")
    summary = run_align(run, pairs, tmp_path / "out.talp")
    assert summary["pairs"] == 4 and summary["errors"] == 1
    lines = (tmp_path / "out.talp").read_text().split("\n")
    assert len(lines) == 5 and lines[-1] == "" and lines[2] == ""


def test_threshold_shift_and_reverse_options():
    translator = make_translator()
    argmax, _ = align_lines(translator, PAIRS)
    low, _ = align_lines(translator, PAIRS, AlignConfig(threshold=1e-6))
    for a, b in zip(argmax, low, strict=True):
        assert set(parse(a)) <= set(parse(b))  # every word above a tiny threshold: a superset
    assert parse(low[1]) == [(i, j) for i in range(6) for j in range(7)]
    backward, _ = align_lines(translator, PAIRS, AlignConfig(reverse=True))
    for line, got in zip(PAIRS, backward, strict=True):
        if "|||" in line:
            src, tgt = (side.split() for side in line.split("|||"))
            assert {i for i, _ in parse(got)} == set(range(len(src)))  # every source word gets a link


def test_run_align_scores_against_gold_and_draws_the_worst(tmp_path):
    run = make_run_dir(tmp_path / "run")
    pairs, gold = tmp_path / "pairs.txt", tmp_path / "gold.talp"
    pairs.write_text("ein mann läuft ||| a man runs\nkatze ||| cat .\n")
    gold.write_text("1-1 2-2 3-3\n1-1 1p2\n")
    summary = run_align(run, pairs, tmp_path / "out.txt", gold=gold, heatmaps=tmp_path / "maps", worst=1)
    predicted = [set(parse(x)) for x in (tmp_path / "out.txt").read_text().splitlines()]
    sure = {(0, 0), (1, 1), (2, 2)}
    expected_recall = (len(predicted[0] & sure) + len(predicted[1] & {(0, 0)})) / 4
    assert summary["scores"]["recall"] == expected_recall and summary["scores"]["sentences"] == 2
    assert [Path(p).name for p in summary["heatmaps"]] == [
        p.name for p in (tmp_path / "maps").glob("line-*.png")
    ]
    assert len(summary["heatmaps"]) == 1
    assert (tmp_path / "out.json").exists()


def test_posterior_weights_are_distributions_that_move_with_the_target_word(tmp_path):
    """--method posterior: each target word's weights over the source words are a share of one (the
    rest is on the source EOS), merged from pieces as the attention's and not the attention's; the
    CLI writes its links and says which reading it used."""
    translator = make_translator()
    pairs = parse_pairs(PAIRS)
    attention = align_pairs(translator, pairs, AlignConfig())
    posterior = align_pairs(translator, pairs, AlignConfig(weights="posterior"))
    for a, p in zip(attention, posterior, strict=True):
        if a is None:
            assert p is None
            continue
        assert p.attention.shape == a.attention.shape
        assert ((p.attention >= 0) & (p.attention.sum(axis=1, keepdims=True) <= 1 + 1e-5)).all()
    assert not np.allclose(posterior[1].attention, attention[1].attention, atol=1e-3)

    run = make_run_dir(tmp_path / "run")
    lines = tmp_path / "pairs.txt"
    lines.write_text("\n".join(PAIRS) + "\n")
    out = tmp_path / "out.txt"
    command = [sys.executable, "-m", "nmt", "align", "--model", str(run), "--pairs", str(lines)]
    done = subprocess.run(
        [*command, "--out", str(out), "--method", "posterior"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.with_suffix(".json").read_text())["config"]["weights"] == "posterior"
    assert out.read_text().splitlines() == [pharaoh(p.links) if p else "" for p in posterior]

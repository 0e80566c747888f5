"""Tests of the generated parallel corpus (nmt/data/synthetic.py)."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict

import pytest

from nmt.data import synthetic
from nmt.data.synthetic import (
    MAX_LEN,
    MIN_LEN,
    SRC_LANG,
    TGT_LANG,
    GeneratedPair,
    generate_pairs,
    generate_splits,
)

LINK = re.compile(r"(\d+)([-p])(\d+)")
ADJECTIVES = set(synthetic._ADJS_EN)
DETERMINERS = {
    "the",
    "this",
    "these",
    "my",
    "your",
    "his",
    "our",
    "their",
    "every",
    "some",
    "many",
    "a",
    "an",
}
ATTRIBUTIVE_BEFORE = DETERMINERS | {"two", "three", "ten", "twelve"} | ADJECTIVES
ADJ_ENDING = {"o": "el", "a": "al", "i": "eli", "e": "ali"}


@pytest.fixture(scope="module")
def corpus() -> list[GeneratedPair]:
    return generate_pairs(8000, 0)


@pytest.fixture(scope="module")
def sample(corpus) -> list[GeneratedPair]:
    return corpus[:3000]


def links(pair: GeneratedPair) -> list[tuple[int, int, str]]:
    """Parse a talp line into 0-based (source, target, '-' or 'p') triples, checking syntax."""
    out = []
    for item in pair.alignment.split():
        m = LINK.fullmatch(item)
        assert m, item
        out.append((int(m[1]) - 1, int(m[3]) - 1, m[2]))
    return out


def targets(pair: GeneratedPair, kind: str = "-") -> dict[int, list[int]]:
    """Source index -> target indices linked with `kind` ('-' sure, 'p' possible)."""
    out = defaultdict(list)
    for i, j, k in links(pair):
        if k == kind:
            out[i].append(j)
    return out


def noun_after(src: list[str], i: int) -> int:
    """Index of the noun that the attributive word at `i` belongs to."""
    k = i + 1
    while src[k].lower() in ADJECTIVES:
        k += 1
    return k


def test_language_codes():
    assert (SRC_LANG, TGT_LANG) == ("en", "xx")


def test_hand_checked_examples(corpus):
    assert corpus[863] == GeneratedPair(
        src="They have known that we laughed for the old rabbit .",
        tgt="Ili avunt galudut ke noi perda garesa biraral sibumar evimo .",
        alignment="1-1 2-2 3-3 4-4 5-5 6-9 6-10 7-6 8p6 9-8 10-7 11-11",
    )
    assert corpus[212] == GeneratedPair(
        src="This man near the friends has not pulled their song .",
        tgt="Sta nekaba presdi virosi nu avit pa loro muvono gagirut .",
        alignment="1-1 2-2 3-3 4p3 5-4 6-6 7-5 7-7 8-10 9-8 10-9 11-11",
    )


def test_deterministic_and_seeded():
    assert generate_pairs(300, 7) == generate_pairs(300, 7)
    assert generate_pairs(100, 7) == generate_pairs(300, 7)[:100]
    assert [p.src for p in generate_pairs(100, 7)] != [p.src for p in generate_pairs(100, 8)]
    assert generate_pairs(0, 1) == []
    with pytest.raises(ValueError):
        generate_pairs(-1, 0)


def test_lengths_distinct_and_spread(corpus):
    src_lengths = [len(p.src.split()) for p in corpus]
    assert all(MIN_LEN <= len(p.tgt.split()) <= MAX_LEN for p in corpus)
    assert min(src_lengths) == MIN_LEN and max(src_lengths) == MAX_LEN
    assert 10 <= statistics.mean(src_lengths) <= 13
    assert sum(n >= 20 for n in src_lengths) > len(corpus) // 20  # long sentences too
    assert len({p.src for p in corpus}) == len(corpus)
    assert all(p.src.endswith(" .") and p.tgt.endswith(" .") for p in corpus)
    assert all(p.src[0].isupper() and p.tgt[0].isupper() for p in corpus)


def test_vocabulary_sizes(corpus):
    src = {w for p in corpus for w in p.src.split()}
    tgt = {w for p in corpus for w in p.tgt.split()}
    assert 450 <= len(src) <= 600
    assert 800 <= len(tgt) <= 1100


def test_splits_disjoint_and_stable():
    sizes = {"train": 600, "valid": 100, "test": 100}
    splits = generate_splits(3, sizes)
    assert list(splits) == list(sizes)
    assert {k: len(v) for k, v in splits.items()} == sizes
    sources = [p.src for split in splits.values() for p in split]
    assert len(set(sources)) == len(sources)
    assert generate_splits(3, sizes) == splits
    smaller = generate_splits(3, {"train": 300, "valid": 100, "test": 100})
    assert smaller["test"] == splits["test"] and smaller["valid"] == splits["valid"]


def test_alignment_in_bounds_and_complete(sample):
    for pair in sample:
        src, tgt, found = pair.src.split(), pair.tgt.split(), links(pair)
        assert len({(i, j) for i, j, _ in found}) == len(found)
        assert all(0 <= i < len(src) and 0 <= j < len(tgt) for i, j, _ in found)
        assert {i for i, _, _ in found} == set(range(len(src)))  # every source word aligned
        assert {j for _, j, _ in found} == set(range(len(tgt)))  # every target word aligned
        assert (len(src) - 1, len(tgt) - 1, "-") in found  # "." - "."


def test_possible_links_only_for_loose_function_words(sample):
    for pair in sample:
        src = pair.src.lower().split()
        for i, js in targets(pair, "p").items():
            assert src[i] in {"the", "do", "does"} and len(js) == 1
            if src[i] == "the":  # fused with the preposition before it
                assert js[0] in targets(pair)[i - 1]


def test_adjectives_follow_their_noun_mirrored_and_agree(sample):
    checked = 0
    for pair in sample:
        src, tgt, sure = pair.src.lower().split(), pair.tgt.split(), targets(pair)
        for i, word in enumerate(src):
            if word in ADJECTIVES and src[i - 1] in ATTRIBUTIVE_BEFORE:
                (j_adj,), (j_noun,) = sure[i], sure[noun_after(src, i)]
                assert j_adj > j_noun
                if src[i + 1] in ADJECTIVES:  # two adjectives: mirrored order
                    assert sure[i + 1][0] == j_noun + 1 and j_adj == j_noun + 2
                assert tgt[j_adj].endswith(ADJ_ENDING[tgt[j_noun][-1]])
                checked += 1
    assert checked > 200


def test_determiners_agree_with_their_noun(sample):
    checked = 0
    for pair in sample:
        src, tgt = pair.src.lower().split(), pair.tgt.lower().split()
        sure, possible = targets(pair), targets(pair, "p")
        for i, word in enumerate(src):
            if word in DETERMINERS:
                (j_det,) = sure.get(i) or possible[i]
                (j_noun,) = sure[noun_after(src, i)]
                assert tgt[j_det][-1] == tgt[j_noun][-1]
                checked += 1
    assert checked > 1000


def test_verbs_agree_with_pronoun_subjects(sample):
    endings = {"we": "imo", "they": "unt"}
    checked = 0
    for pair in sample:
        src, tgt = pair.src.lower().split(), pair.tgt.split()
        linked = defaultdict(list)
        for i, j, _ in links(pair):
            linked[i].append(tgt[j])
        for i, word in enumerate(src):
            if word in endings:
                assert any(w.endswith(endings[word]) for w in linked[i + 1]), pair
                checked += 1
    assert checked > 200


def test_negation_wraps_the_finite_verb(sample):
    checked = 0
    for pair in sample:
        src, tgt, sure = pair.src.split(), pair.tgt.split(), targets(pair)
        for i, word in enumerate(src):
            if word == "not":
                j1, j2 = sorted(sure[i])
                assert (tgt[j1], tgt[j2], j2 - j1) == ("nu", "pa", 2)
                checked += 1
    assert checked > 100


def test_one_to_many_and_many_to_one(sample):
    one_to_many = many_to_one = 0
    for pair in sample:
        found = links(pair)
        per_source, per_target = defaultdict(int), defaultdict(int)
        for i, j, _ in found:
            per_source[i] += 1
            per_target[j] += 1
        one_to_many += any(n > 1 for n in per_source.values())
        many_to_one += any(n > 1 for n in per_target.values())
    assert one_to_many > len(sample) // 2
    assert many_to_one > len(sample) // 5


def test_subordinate_clauses_are_verb_final(sample):
    clause_words = {"that", "because", "when", "if", "although", "while", "until", "and", "but", "or", "so"}
    checked = 0
    for pair in sample:
        src, tgt, sure = pair.src.split(), pair.tgt.split(), targets(pair)
        starts = [i for i, w in enumerate(src) if w in clause_words]
        if not starts or src[starts[-1]] in {"and", "but", "or", "so"} or "not" in src:
            continue
        for i in range(starts[-1], len(src)):
            if src[i] in {"has", "have", "will", "did"}:
                assert sure[i] == [len(tgt) - 2], pair  # the auxiliary comes last
                checked += 1
    assert checked > 100


def test_language_is_the_same_for_every_seed():
    lexicon: dict[str, str] = {}
    for seed in (0, 1):
        for pair in generate_pairs(1000, seed):
            src, tgt = pair.src.split(), pair.tgt.split()
            if src[0] == "The" and "2-2" in pair.alignment.split():  # "The <noun>"
                assert lexicon.setdefault(src[1], tgt[1]) == tgt[1]
    assert len(lexicon) > 80

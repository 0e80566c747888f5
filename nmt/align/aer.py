"""Alignment quality against gold alignments: AER, precision and recall (Och and Ney, 2003).

Links are 0-based (source, target) pairs throughout. Gold files are in talp format: one line per
sentence, `i-j` a sure link and `ipj` a possible link, 1-based, `i` on the source side; the
possible set is P = S | {p links}. Corpus-level scores, summed over sentences:

    precision = |A & P| / |A|      recall = |A & S| / |S|
    AER       = 1 - (|A & S| + |A & P|) / (|A| + |S|)

With no predicted links precision is 1, with no sure links recall is 1, and with neither AER is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from nmt.align.symmetrize import METHODS, symmetrize

Link = tuple[int, int]


@dataclass(frozen=True)
class Gold:
    """The gold alignment of one sentence pair: sure links and possible links (S included)."""

    sure: frozenset[Link]
    possible: frozenset[Link]


@dataclass(frozen=True)
class AlignmentScore:
    """Corpus-level alignment scores and the counts they come from."""

    aer: float
    precision: float
    recall: float
    sentences: int
    predicted: int
    sure: int

    def as_dict(self) -> dict:
        """Plain dict for JSON and tables."""
        return asdict(self)


def parse_talp(line: str, where: str = "<talp>") -> Gold:
    """Parse one talp line (1-based `i-j` sure and `ipj` possible links) into 0-based sets."""
    sure, possible = set(), set()
    for item in line.split():
        sep = "-" if "-" in item else "p"
        left, found, right = item.partition(sep)
        if not found or not left.isdigit() or not right.isdigit() or int(left) < 1 or int(right) < 1:
            raise ValueError(f"{where}: {item!r} is not a talp link (i-j sure or ipj possible, 1-based)")
        link = (int(left) - 1, int(right) - 1)
        possible.add(link)
        if sep == "-":
            sure.add(link)
    return Gold(frozenset(sure), frozenset(possible))


def read_talp(path: Path) -> list[Gold]:
    """Gold alignments of a talp file, one per line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [parse_talp(line, f"{path}, line {n}") for n, line in enumerate(lines, 1)]


def parse_pharaoh(line: str, where: str = "<pharaoh>") -> set[Link]:
    """Parse one line of 0-based Pharaoh `i-j` links."""
    links = set()
    for item in line.split():
        left, found, right = item.partition("-")
        if not found or not left.isdigit() or not right.isdigit():
            raise ValueError(f"{where}: {item!r} is not a Pharaoh link (i-j, 0-based)")
        links.add((int(left), int(right)))
    return links


def read_pharaoh(path: Path) -> list[set[Link]]:
    """Links of a Pharaoh file, one set per line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [parse_pharaoh(line, f"{path}, line {n}") for n, line in enumerate(lines, 1)]


def sentence_counts(predicted: set[Link], gold: Gold) -> tuple[int, int, int, int]:
    """(|A & S|, |A & P|, |A|, |S|) of one sentence."""
    return len(predicted & gold.sure), len(predicted & gold.possible), len(predicted), len(gold.sure)


def score(predicted: list[set[Link]], gold: list[Gold]) -> AlignmentScore:
    """Corpus AER, precision and recall of predicted links against the gold, sentence by sentence."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments for {len(gold)} gold sentences")
    a_s = a_p = n_a = n_s = 0
    for links, g in zip(predicted, gold, strict=True):
        c = sentence_counts(links, g)
        a_s, a_p, n_a, n_s = a_s + c[0], a_p + c[1], n_a + c[2], n_s + c[3]
    return AlignmentScore(
        aer=1.0 - (a_s + a_p) / (n_a + n_s) if n_a + n_s else 0.0,
        precision=a_p / n_a if n_a else 1.0,
        recall=a_s / n_s if n_s else 1.0,
        sentences=len(gold),
        predicted=n_a,
        sure=n_s,
    )


def sentence_aer(predicted: set[Link], gold: Gold) -> float:
    """AER of one sentence (for ranking the worst-aligned sentences)."""
    return score([predicted], [gold]).aer


def diagonal(src_len: int, tgt_len: int) -> set[Link]:
    """The diagonal baseline: target word j linked to the source word at the same relative position."""
    if not src_len or not tgt_len:
        return set()
    return {(min(src_len - 1, int((j + 0.5) * src_len / tgt_len)), j) for j in range(tgt_len)}


def diagonal_links(pairs: list[tuple[list[str], list[str]] | None]) -> list[set[Link]]:
    """The diagonal baseline of word pairs (source words, target words); None (not a pair) gets no links."""
    return [diagonal(len(p[0]), len(p[1])) if p else set() for p in pairs]


def score_files(
    gold: Path, pairs: Path, forward: Path | None = None, backward: Path | None = None
) -> list[dict]:
    """AER rows for the diagonal baseline of `pairs`, each links file, and the symmetrisations of both."""
    gold_links = read_talp(gold)
    lines = Path(pairs).read_text(encoding="utf-8").splitlines()
    sides = [line.partition("|||") for line in lines]
    aligners = {"diagonal": diagonal_links([(s.split(), t.split()) for s, _, t in sides])}
    if forward is not None:
        aligners["forward"] = read_pharaoh(forward)
    if backward is not None:
        aligners["backward"] = read_pharaoh(backward)
    if forward is not None and backward is not None:
        for method in METHODS:
            pairs_of_links = zip(aligners["forward"], aligners["backward"], strict=True)
            aligners[method] = [symmetrize(f, b, method) for f, b in pairs_of_links]
    return [{"aligner": name, **score(links, gold_links).as_dict()} for name, links in aligners.items()]

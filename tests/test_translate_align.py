"""Forced alignment of given pairs: word links from teacher-forced attention."""

from translate_fixtures import make_run_dir, make_translator

from nmt.align import align_lines, run_align

PAIRS = [
    "ein mann läuft ||| a man runs",
    "der große hund spielt im park ||| the big dog plays in the park",
    "not a pair",
    "katze ||| cat .",
]


def parse(links: str) -> list[tuple[int, int]]:
    return [tuple(map(int, x.split("-"))) for x in links.split()]


def test_align_lines_links_words_in_range():
    translator = make_translator()
    links, errors = align_lines(translator, PAIRS, batch_tokens=16)
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

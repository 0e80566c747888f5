"""Reading documents, cutting them into sentences (see test_splitting.py), and putting them back."""

from pathlib import Path

import pytest

from nmt.text.documents import (
    DocumentError,
    decode_text,
    iter_inputs,
    parse_markdown,
    parse_text,
    render,
    sentences_of,
)


def test_text_round_trip_keeps_structure():
    text = "\ufeffFirst one. Second\none.\r\n\r\n\r\n  Para two!\n\nThree. Four?\n"
    parts = parse_text(text)
    sents = sentences_of(parts)
    assert [(s.paragraph, s.sentence, s.text, s.line) for s in sents] == [
        (0, 0, "First one.", 1),
        (0, 1, "Second one.", 1),
        (1, 0, "Para two!", 5),
        (2, 0, "Three.", 7),
        (2, 1, "Four?", 7),
    ]
    same = render(parts, {(s.paragraph, s.sentence): s.text for s in sents})
    assert same == "First one. Second one.\n\n\n  Para two!\n\nThree. Four?\n"
    upper = render(parts, {(s.paragraph, s.sentence): s.text.upper() for s in sents})
    assert upper.split("\n\n") == ["FIRST ONE. SECOND ONE.", "\n  PARA TWO!", "THREE. FOUR?\n"]


MARKDOWN = """---
title: Notes. Not prose
---
# A title #

Some *bold* text. See `code. Here` and [the site](https://example.com/a.b). Done.

> - Quoted item. Next one.

```python
x = 1  # Not prose. Really.
```

    indented code. Kept

Setext Title
============

| Col. A | Col. B |
|---|---|
| keep | this |

<div>html block.</div>
"""


def test_markdown_keeps_code_urls_and_markup():
    parts = parse_markdown(MARKDOWN)
    sents = sentences_of(parts)
    texts = [s.text for s in sents]
    assert "A title" in texts and "Setext Title" in texts and "Quoted item." in texts
    assert not any("Not prose" in t or "code" in t or "example.com" in t or "keep" in t for t in texts)
    same = render(parts, {(s.paragraph, s.sentence): s.text for s in sents})
    assert same == MARKDOWN
    out = render(parts, {(s.paragraph, s.sentence): f"<{s.text.upper()}>" for s in sents})
    assert "[<THE SITE>](https://example.com/a.b)" in out
    assert "`code. Here`" in out and "x = 1  # Not prose. Really." in out
    assert "# <A TITLE> #\n" in out and "> - <QUOTED ITEM.> <NEXT ONE.>\n" in out
    assert "<SETEXT TITLE>\n============\n" in out and "| Col. A | Col. B |" in out
    assert out.startswith("---\ntitle: Notes. Not prose\n---\n")


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (b"abc\n\x00\x01", "binary", 2),
        (b"ok\nbad \xff here", "invalid_utf8", 2),
        (b"", "empty", None),
        (b" \n\t\n", "empty", None),
    ],
)
def test_decode_errors(data, reason, line):
    with pytest.raises(DocumentError) as err:
        decode_text(data)
    assert err.value.reason == reason and err.value.line == line


def test_sources_order_ids_and_kinds(tmp_path: Path):
    for name in ["b.txt", "a.md", "sub/c.txt", ".hidden.txt", "x.bin"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("Hi.")
    got = [(s.doc_id, s.kind) for s in iter_inputs([tmp_path])]
    assert got == [("a.md", "md"), ("b.txt", "txt"), ("sub/c.txt", "txt"), ("x.bin", "unsupported")]
    glob = [s.doc_id for s in iter_inputs([f"{tmp_path}/**/*.txt"])]
    assert glob == ["b.txt", "sub/c.txt"]
    single = list(iter_inputs([tmp_path / "x.bin", tmp_path / "missing.txt"]))
    assert [(s.doc_id, s.kind) for s in single] == [("x.bin", "txt"), ("missing.txt", "missing")]


def test_links_and_dotdots_resolving_outside_the_named_root_are_refused(tmp_path: Path):
    root, outside = tmp_path / "in", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret.")
    (root / "a.txt").write_text("Hi.")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "away").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "same.txt").symlink_to(root / "a.txt")  # inside the root: followed
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)  # inside, visited once
    got = [(s.doc_id, s.kind) for s in iter_inputs([root])]
    assert got == [
        ("a.txt", "txt"),
        ("away", "link_outside"),
        ("passwd.txt", "link_outside"),
        ("sub/same.txt", "txt"),
    ]
    globbed = [(s.doc_id, s.kind) for s in iter_inputs([f"{root}/*.txt", f"{root}/*/../../outside/*"])]
    assert globbed == [
        ("a.txt", "txt"),
        ("passwd.txt", "link_outside"),
        ("sub/../../outside/secret.txt", "link_outside"),
    ]

"""Splitting a paragraph into sentences by its language, with character offsets.

The library for each language was chosen by benchmarks/splitting.py (results in
benchmarks/results/splitting.json): boundary errors (false plus missed splits) on 3,000
paragraphs a corpus of consecutive Multi30k (en, de, fr) and Tatoeba (en, fr) sentences, plus
handwritten hard cases (tests/data/splitting_cases.json: abbreviations, numbers, quotes,
ellipses, Chinese and Japanese):

    language  sentence-splitter (Moses)  sentencex  pysbd  syntok  blingfire  rules before
    en                 14                    70        33      17      47          10
    de                 29                    11        12      11     165           7
    fr                 34                    10         9      71     336          25
    zh                  -                     1         5       -       4           9
    ja                  -                     2         4       -       6           9

English goes to sentence-splitter (the Moses non-breaking prefixes; 4k to 16k sentences/s on
one core here): sentencex takes "me.", "no." and "OK." for abbreviations in English. Every other
language goes to sentencex (about 300 languages, CJK included; 30k to 380k sentences/s against
pysbd's 1k to 5k, so pysbd's one fewer French error does not pay), and so does an unknown
language (None), with its language-independent rules. The hand-written rules that came before
were slightly ahead in English and German on this test set (10 and 7 errors against 14 and 11)
but kept one mixed en/de/fr abbreviation list, were far behind in French, and never split CJK.

A line break alone never ends a sentence (hard-wrapped text): line breaks are read as spaces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

Spans = list[tuple[int, int]]

MOSES_LANGUAGES = frozenset({"en"})  # the languages sentence-splitter does best (see above)


def base_language(lang: str | None) -> str | None:
    """The primary subtag of a language tag, lowercased: "en-US" -> "en", "zh_Hans" -> "zh"."""
    if not lang:
        return None
    return lang.replace("_", "-").split("-")[0].lower()


def split_sentences(text: str, lang: str | None = None) -> Spans:
    """Spans (start, end) of the sentences of one paragraph in language `lang` (None: unknown)."""
    flat = text.replace("\n", " ")
    return _located(text, _splitter(base_language(lang))(flat))


@functools.cache
def _splitter(lang: str | None) -> Callable[[str], list[str]]:
    """The sentence strings of a paragraph, from the library chosen for `lang`."""
    if lang in MOSES_LANGUAGES:
        from sentence_splitter import SentenceSplitter

        return SentenceSplitter(language=lang).split
    import sentencex

    code = lang or "xx"  # sentencex: a code it does not know gets its language-independent rules
    return lambda text: list(sentencex.segment(code, text))


def _located(text: str, pieces: list[str]) -> Spans:
    """Spans of `pieces` in `text`, matched by their non-space characters in order.

    The libraries drop or collapse whitespace but keep every other character; should one ever
    change a character, the rest of the paragraph becomes one sentence.
    """
    spans: Spans = []
    pos = 0
    for piece in pieces:
        chars = [c for c in piece if not c.isspace()]
        if not chars:
            continue
        while pos < len(text) and text[pos].isspace():
            pos += 1
        start, k = pos, 0
        while pos < len(text) and k < len(chars):
            if not text[pos].isspace():
                if text[pos] != chars[k]:
                    return _rest(spans, text, start)
                k += 1
            pos += 1
        if k < len(chars):
            return _rest(spans, text, start)
        spans.append((start, pos))
    return _rest(spans, text, pos)


def _rest(spans: Spans, text: str, start: int) -> Spans:
    """`spans` plus the stripped remainder of `text` from `start`, if it holds anything."""
    rest = text[start:]
    if rest.strip():
        lead = len(rest) - len(rest.lstrip())
        spans.append((start + lead, start + len(rest.rstrip())))
    return spans

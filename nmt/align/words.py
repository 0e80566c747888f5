"""Word tokens of the statistical aligner: one split for the corpus, translated output and `|||` files.

Alignment links (Pharaoh `i-j`, 0-based) count these words, never sentencepiece pieces.

Raw text (a corpus pair, a translation): a word is a letter or digit followed by a maximal run
of letters, digits and combining diacritical marks (U+0300 to U+036F); every other character
that is not whitespace is a word of its own. So punctuation, apostrophes and hyphens split:
"l'homme" -> l ' homme, "don't" -> don ' t, "U.S." -> U . S ., "10,5" -> 10 , 5. No-break
spaces (U+00A0, U+202F, French before `? ! : ;`) are whitespace. Case is kept.

Tokenized text (`source ||| target` files, such as the WPT gold sets, which are already tokenized):
the words are the whitespace-separated tokens, as the gold's indices count them.

The aligner reads the words lowercased (`aligner_line`), so "The" and "the" share statistics;
the links it returns index the words above.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_](?:[^\W_]|[\u0300-\u036f])*|[^\w\s]|_")


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the words of raw text."""
    return [m.span() for m in WORD.finditer(text)]


def words(text: str) -> list[str]:
    """The words of raw text (a corpus side or a translation)."""
    return WORD.findall(text)


def tokenized_words(text: str) -> list[str]:
    """The words of already tokenized text (one side of a `source ||| target` line)."""
    return text.split()


def aligner_line(tokens: list[str]) -> str:
    """One line of aligner input: the words lowercased, separated by single spaces."""
    return " ".join(tokens).lower()

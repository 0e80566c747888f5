"""Reading input documents and cutting them into paragraphs and sentences, and back.

A document is parsed into a flat list of parts: verbatim text (kept as is in the output) and
`Sentence`s (replaced by their translation). Rendering concatenates the parts, so everything
that is not a sentence -- the blank lines between paragraphs, the spaces or line breaks
between sentences, Markdown markup -- comes out exactly as it went in.

Plain text (.txt, and the text field of table records): paragraphs are separated by one or
more blank lines (lines with only spaces or tabs); line endings are normalised to "\\n" and a
UTF-8 byte-order mark is dropped. Inside a sentence, line breaks and runs of spaces become one
space.

Sentence splitting uses the rules of `split_sentences` (no library: none is installed here):

1. A sentence ends after ".", "!", "?", "…" (or a run of them, or the CJK "。！？"), optionally
   followed by closing quotes or brackets, when whitespace follows and the next word starts
   with an uppercase letter, a digit, or an opening quote or bracket.
2. Not after a ".", when the word before it is a known abbreviation (ABBREVIATIONS, any case),
   a single letter (initials, "z. B."), or a number of one or two digits (German ordinals,
   "am 3. Mai"), or contains an inner "." ("e.g.", "U.S.").
3. A line break alone never ends a sentence (hard-wrapped text); a blank line always does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = """
mr mrs ms dr prof sr jr st mt vs etc nos fig figs vol pp ca cf approx dept inc ltd co corp
jan feb apr jun jul aug sep sept oct nov dec tue thu fri
nr bzw usw vgl evtl ggf inkl sog bspw engl frz hr fr abb bd jh jhd mio mrd tel str mme mlle mgr
"""
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())

_END = re.compile(
    r"""(?P<punct>[.!?…。！？]+)["'”’»)\]]*(?P<space>\s+)(?=["'“‘«(\[¿¡]?[\d\w])""",
)
_PARAGRAPH_GAP = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")


@dataclass(frozen=True)
class Sentence:
    """A sentence to translate and where it sits."""

    paragraph: int  # 0-based paragraph in the document
    sentence: int  # 0-based sentence in the paragraph
    text: str  # whitespace-normalised source
    line: int  # 1-based line where it starts


Part = str | Sentence


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the sentences of one paragraph, by the module's rules."""
    spans, start = [], 0
    for m in _END.finditer(text):
        end = m.start("space")
        nxt = text[m.end() :]
        if not _starts_sentence(nxt):
            continue
        if m.group("punct") == "." and _is_abbreviation(text[start : m.start("punct")]):
            continue
        _add_span(spans, text, start, end)
        start = m.end()
    _add_span(spans, text, start, len(text.rstrip()))
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    if piece.strip():
        spans.append((start + len(piece) - len(piece.lstrip()), end))


def _starts_sentence(rest: str) -> bool:
    word = rest.lstrip("\"'“‘«([¿¡")
    return bool(word) and (word[0].isupper() or word[0].isdigit())


def _is_abbreviation(before: str) -> bool:
    words = before.split()
    if not words:
        return False
    word = words[-1].lstrip("\"'“‘«([")
    if "." in word:
        return True  # "e.g", "U.S", "z.B"
    if len(word) == 1 and word.isalpha():
        return True
    if word.isdigit() and len(word) <= 2:
        return True
    return word.lower() in ABBREVIATIONS


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace (line breaks included) to one space."""
    return " ".join(text.split())


def parse_text(text: str) -> list[Part]:
    """Cut plain text into verbatim parts and sentences (paragraphs at blank lines)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    parts: list[Part] = []
    pos, paragraph = 0, 0
    bounds = [(m.start(), m.end()) for m in _PARAGRAPH_GAP.finditer(text)] + [(len(text), len(text))]
    for gap_start, gap_end in bounds:
        block = text[pos:gap_start]
        if block.strip():
            parts.extend(_paragraph_parts(block, paragraph, text.count("\n", 0, pos) + 1))
            paragraph += 1
        elif block:
            parts.append(block)
        if gap_end > gap_start:
            parts.append(text[gap_start:gap_end])
        pos = gap_end
    return parts


def _paragraph_parts(block: str, paragraph: int, first_line: int) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    for k, (start, end) in enumerate(split_sentences(block)):
        if start > pos:
            parts.append(block[pos:start])
        line = first_line + block.count("\n", 0, start)
        parts.append(Sentence(paragraph, k, normalize_space(block[start:end]), line))
        pos = end
    if pos < len(block):
        parts.append(block[pos:])
    return parts


def render(parts: list[Part], translations: dict[tuple[int, int], str]) -> str:
    """Put a document back together with each sentence replaced by translations[(para, sent)]."""
    return "".join(p if isinstance(p, str) else translations[(p.paragraph, p.sentence)] for p in parts)


def sentences(parts: list[Part]) -> list[Sentence]:
    """The sentences of a parsed document, in order."""
    return [p for p in parts if isinstance(p, Sentence)]

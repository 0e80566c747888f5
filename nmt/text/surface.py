"""Surface form of a tokenized sentence: the text a model trained on raw sentences would have seen.

Gold alignment sets come tokenized (the WPT 2003 Hansards: `Mr. Speaker , my question se adresse
à le ministre .`), while a model trained on raw text (Tatoeba: `Mr. Speaker, my question
s'adresse au ministre.`) never saw such text. `surface` rebuilds a plausible raw sentence from
the tokens and keeps, for every token, its character span in it; `surface_pieces` encodes that
sentence once with sentencepiece and maps every piece to the tokens whose spans it overlaps, so
attention over pieces can be merged back to the gold tokens (nmt.align.links.word_attention).

Rules (they only change spacing, the first letter's case and French contractions/elisions):

- Punctuation attaches as a detokenizer would: no space before `, . ! ? ; : ) ] } % ... »`, a
  token starting with an apostrophe (`'s`) or `n't`, nor after `( [ { $ «` or a token ending with
  an apostrophe (`aujourd'`); a hyphen between two alphanumeric tokens joins them (`part - time`
  -> `part-time`); straight double quotes alternate between opening and closing.
- French (`fr`) keeps the space before `? ! : ;` and inside `« »`: the Tatoeba French text has a
  no-break space there (about 30,000 times against 600 without), which sentencepiece's NFKC
  normalization turns into a plain space.
- French contractions are re-joined: `de le` -> `du`, `de les` -> `des`, `à le` -> `au`, `à les`
  -> `aux` (also `de le` before an infinitive, which was never contracted: the tokens cannot tell).
  The contracted form's span belongs to both tokens.
- French elision before a vowel or a mute h (a short list of aspirated-h stems keeps `le héros`):
  `le la de je me te se ne que jusque lorsque puisque` -> `l' d' j' ...`, `ce` before `e é ê`
  (`c'est`), `si` before `il(s)`, `quelque` before `un(e)`; the elided form joins the next word.
  Elision wins over contraction: `de le homme` -> `de l'homme`.
- The first alphanumeric character of the sentence is upper-cased when it is a letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sentencepiece as spm

from nmt.core.cores import usable_cores

Span = tuple[int, int]

CLOSING = frozenset({",", ".", "!", "?", ";", ":", ")", "]", "}", "%", "...", "…", "»"})
OPENING = frozenset({"(", "[", "{", "$", "«"})
FRENCH_SPACED = frozenset({"?", "!", ":", ";", "»", "«"})  # a space on both sides in French
CONTRACTIONS = {("de", "le"): "du", ("de", "les"): "des", ("à", "le"): "au", ("à", "les"): "aux"}
ELIDING = frozenset({"le", "la", "de", "je", "me", "te", "se", "ne", "que", "jusque", "lorsque", "puisque"})
VOWELS = frozenset("aeiouàâäæéèêëîïôöœùûü")
ASPIRATED_H = (
    "hach", "hai", "haï", "halte", "hamac", "hameau", "hamster", "hanche", "handicap", "hangar", "hant",
    "harc", "hardi", "hareng", "haricot", "harp", "hasard", "hât", "hauss", "haut", "havre", "hérisson",
    "hernie", "héros", "heurt", "hibou", "hiérarch", "hoch", "hockey", "hollande", "homard", "hongr",
    "hont", "hoquet", "hors", "houill", "housse", "huit", "hurl", "hutte",
)  # fmt: skip


@dataclass(frozen=True)
class Surface:
    """A rebuilt sentence and the character span of every token in it."""

    text: str
    spans: list[Span]  # [len(tokens)] (begin, end) in text; contracted tokens share one span


def is_french(lang: str | None) -> bool:
    """Whether a language code (`fr`, `fr-CA`, `fra`) is French."""
    return lang is not None and lang.lower().replace("_", "-").split("-")[0] in ("fr", "fra", "fre")


def surface(tokens: Sequence[str], lang: str | None) -> Surface:
    """The surface sentence of `tokens` in language `lang` (None: no language-specific rules)."""
    french = is_french(lang)
    units = _french_units(tokens) if french else [(t, (k,)) for k, t in enumerate(tokens)]
    space = _spaces([t for t, _ in units], french)
    text, spans = "", [(0, 0)] * len(tokens)
    for (unit, owners), spaced in zip(units, space, strict=True):
        text += " " * spaced
        for k in owners:
            spans[k] = (len(text), len(text) + len(unit))
        text += unit
    return Surface(_capitalise(text), spans)


def surface_pieces(
    sp: spm.SentencePieceProcessor, sentences: list[list[str]], lang: str | None
) -> list[tuple[list[int], list[tuple[int, ...]]]]:
    """Piece ids of each sentence's surface form and the tokens of each piece (one encode per sentence)."""
    forms = [surface(tokens, lang) for tokens in sentences]
    encoded = sp.encode([f.text for f in forms], out_type="offset_mapping", num_threads=usable_cores())
    return [(e["ids"], piece_tokens(e["offsets"], f)) for e, f in zip(encoded, forms, strict=True)]


def piece_tokens(offsets: Sequence[Span], form: Surface) -> list[tuple[int, ...]]:
    """The tokens whose spans each piece overlaps.

    A piece that covers no token character (a lone "▁", a zero-width byte-fallback piece) goes
    with the next piece that does, else the previous one.
    """
    found = [
        tuple(k for k, (b, e) in enumerate(form.spans) if begin < e and b < end) for begin, end in offsets
    ]
    for p in range(len(found) - 2, -1, -1):  # backwards: an empty piece takes the next piece's tokens
        found[p] = found[p] or found[p + 1]
    for p in range(1, len(found)):
        found[p] = found[p] or found[p - 1]
    owned = {k for tokens in found for k in tokens}
    if len(owned) != len(form.spans):
        raise ValueError(f"{form.text!r}: tokens {sorted(set(range(len(form.spans))) - owned)} got no piece")
    return found


def _french_units(tokens: Sequence[str]) -> list[tuple[str, tuple[int, ...]]]:
    """Texts of the French sentence (contracted, elided) and the tokens each one stands for."""
    units, k = [], 0
    while k < len(tokens):
        word, nxt = tokens[k], tokens[k + 1] if k + 1 < len(tokens) else ""
        after = tokens[k + 2] if k + 2 < len(tokens) else ""
        joined = CONTRACTIONS.get((word.lower(), nxt.lower()))
        if joined and not (nxt.lower() == "le" and _elides(nxt, after)):
            units.append((joined.capitalize() if word[:1].isupper() else joined, (k, k + 1)))
            k += 2
            continue
        units.append((word[:-1] + "'" if _elides(word, nxt) else word, (k,)))
        k += 1
    return units


def _elides(word: str, nxt: str) -> bool:
    """Whether French `word` loses its final vowel before `nxt`."""
    word, nxt = word.lower(), nxt.lower()
    if word == "si":
        return nxt in ("il", "ils")
    if word == "quelque":
        return nxt in ("un", "une")
    if word == "ce":
        return nxt[:1] in ("e", "é", "ê")
    return word in ELIDING and (nxt == "y" or nxt[:1] in VOWELS or _mute_h(nxt))


def _mute_h(word: str) -> bool:
    """Whether a lower-cased French word starts with a mute h (`homme`, not `héros`)."""
    return word.startswith("h") and not word.startswith(ASPIRATED_H)


def _spaces(units: list[str], french: bool) -> list[bool]:
    """Whether a space goes before each unit of the sentence."""
    closing = CLOSING - FRENCH_SPACED if french else CLOSING
    opening = OPENING - FRENCH_SPACED if french else OPENING
    n = len(units)
    space = [k > 0 for k in range(n)]
    quote_open = False
    for k, unit in enumerate(units):
        if unit == '"':
            if quote_open:
                space[k] = False
            elif k + 1 < n:
                space[k + 1] = False
            quote_open = not quote_open
        elif unit in closing or unit.startswith("'") or unit.lower() == "n't":
            space[k] = False
        elif (unit in opening or unit.endswith("'")) and k + 1 < n:
            space[k + 1] = False
        elif unit == "-" and 0 < k < n - 1 and units[k - 1][-1].isalnum() and units[k + 1][0].isalnum():
            space[k] = space[k + 1] = False
    return space


def _capitalise(text: str) -> str:
    """Upper-case the first alphanumeric character when it is a letter with a one-character capital."""
    for k, char in enumerate(text):
        if char.isalnum():
            upper = char.upper()
            return text[:k] + upper + text[k + 1 :] if len(upper) == 1 else text
    return text

"""Sentence-pair cleanup and filters: NFC, whitespace and control characters, lengths, ratio, duplicates."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field

RAW_LIMIT = 2000  # characters of a rejected line kept in the rejects table

# Invisible characters removed outright: zero-width space, BOM / zero-width no-break space,
# soft hyphen, word joiner. Zero-width (non-)joiners stay: some scripts need them.
_INVISIBLE = re.compile("[\u200b\ufeff\u00ad\u2060]")
# C0/C1 control characters other than NUL (NUL marks binary data and rejects the line).
_CONTROL = re.compile(r"[\x01-\x1f\x7f-\x9f]")
_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # escaped in rejects; tab and newline kept
# Whitespace runs, leaving the non-breaking spaces (U+00A0, U+2007, U+202F) of French typography.
_SPACES = re.compile(r"[^\S\u00a0\u2007\u202f]+")


class CleaningConfig(BaseModel):
    """Which cleanup steps and filters run on every pair; `enabled=False` keeps all decodable pairs."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    nfc: bool = Field(True, description="Unicode NFC normalisation")
    normalize_whitespace: bool = Field(
        True,
        description="control characters to spaces, invisible characters removed, "
        "whitespace runs collapsed, ends stripped (non-breaking spaces kept)",
    )
    reject_nul: bool = Field(True, description="reject lines with a NUL byte (binary data)")
    reject_empty: bool = True
    max_chars: int | None = Field(1000, gt=0, description="longest side, in characters")
    max_words: int | None = Field(None, gt=0, description="longest side, in whitespace words")
    max_ratio: float | None = Field(4.0, ge=1.0, description="longest / shortest side, in characters")
    dedupe: bool = Field(True, description="drop repeated (src, tgt) pairs within a split")


def escape_raw(text: str) -> str:
    """Shorten `text` for the rejects table and make control characters visible."""
    if len(text) > RAW_LIMIT:
        text = text[:RAW_LIMIT] + f"... [{len(text)} characters]"
    return _ESCAPE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clean_text(text: str, cfg: CleaningConfig) -> str:
    """Apply NFC and whitespace/control-character cleanup to one side."""
    if not cfg.enabled:
        return text
    if cfg.normalize_whitespace:
        if not text.isprintable():  # a control, invisible or non-ASCII space character
            text = _SPACES.sub(" ", _INVISIBLE.sub("", _CONTROL.sub(" ", text)))
        elif "  " in text:
            text = _SPACES.sub(" ", text)
        text = text.strip(" ")
    if cfg.nfc:
        text = unicodedata.normalize("NFC", text)
    return text


def check_pair(src: str, tgt: str, cfg: CleaningConfig) -> tuple[str, str] | None:
    """Return (reason, detail) when a cleaned pair must be rejected, else None."""
    if not cfg.enabled:
        return None
    if cfg.reject_nul and ("\0" in src or "\0" in tgt):
        return "nul_byte", "a NUL byte: binary data, not text"
    if cfg.reject_empty and (not src or not tgt):
        side = "source" if not src else "target"
        return "empty", f"the {side} side is empty"
    longest = max(len(src), len(tgt))
    if cfg.max_chars is not None and longest > cfg.max_chars:
        return "too_long", f"{longest} characters > max_chars={cfg.max_chars}"
    if cfg.max_words is not None:
        words = max(len(src.split()), len(tgt.split()))
        if words > cfg.max_words:
            return "too_long", f"{words} words > max_words={cfg.max_words}"
    if cfg.max_ratio is not None and src and tgt:
        ratio = longest / min(len(src), len(tgt))
        if ratio > cfg.max_ratio:
            return "length_ratio", f"length ratio {ratio:.1f} > max_ratio={cfg.max_ratio}"
    return None

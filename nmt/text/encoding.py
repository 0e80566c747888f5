"""Text encodings of input documents: byte-order marks decoded, other non-UTF-8 text named.

UTF-8 is the input encoding. A file that starts with a UTF-8, UTF-16 or UTF-32 byte-order mark
is decoded by it (editors on Windows write UTF-16 with a BOM). Anything else that is not valid
UTF-8 is refused, and charset-normalizer (the detector requests uses) names what it most likely
is, so the reason says "looks like cp1252" instead of only "invalid UTF-8".
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

SAMPLE_BYTES = 1 << 16


def bom_encoding(data: bytes) -> tuple[str, int] | None:
    """The encoding a byte-order mark at the start of `data` names, and the mark's length."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name, len(bom)
    return None


def likely_encoding(data: bytes) -> str | None:
    """The encoding `data` most likely is (from its first 64 KiB), or None where nothing fits."""
    best = from_bytes(data[:SAMPLE_BYTES]).best()
    return best.encoding if best is not None else None

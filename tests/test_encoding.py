"""Input encodings: BOM-marked UTF-8/16/32 decoded, other non-UTF-8 text refused with its likely encoding."""

import pytest

from nmt.text.documents import DocumentError, decode_text
from nmt.text.encoding import bom_encoding

TEXT = "Le garçon a mangé une pomme. Ça coûte 3 €.\nDeuxième paragraphe à l'été.\n"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"])
def test_byte_order_marked_text_is_decoded(codec):
    data = TEXT.encode(codec)
    if codec in {"utf-16-le", "utf-16-be", "utf-32-be"}:  # these codecs write no mark: add it
        data = "\ufeff".encode(codec) + data
    assert bom_encoding(data) is not None
    assert decode_text(data) == TEXT


def test_latin1_is_refused_with_what_it_likely_is():
    data = (TEXT * 20).replace("€", "EUR").encode("latin-1")
    with pytest.raises(DocumentError) as err:
        decode_text(data)
    assert err.value.reason == "invalid_utf8"
    assert "looks like" in err.value.detail and "iconv -f" in err.value.detail
    guessed = err.value.detail.split("looks like ")[1].split(":")[0]
    assert guessed.startswith(("cp125", "latin", "iso8859")), guessed  # a Latin single-byte code page
    assert data.decode(guessed).count("\n") == 40


def test_utf16_without_a_mark_is_still_binary():
    """No BOM: NUL bytes in the first 64 KiB read as binary, as before."""
    with pytest.raises(DocumentError) as err:
        decode_text(TEXT.encode("utf-16-le"))
    assert err.value.reason == "binary"


def test_a_mark_with_broken_text_behind_it_is_refused():
    with pytest.raises(DocumentError) as err:
        decode_text(b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8")
    assert err.value.reason == "invalid_encoding" and "utf-16-le byte-order mark" in err.value.detail

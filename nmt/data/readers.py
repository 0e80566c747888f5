"""Readers of parallel text: aligned files, TSV, TMX, JSONL and Parquet, yielding pairs or rejects.

Every reader works on a local file (plain or .gz) and yields, in file order, `RawPair` for each
decodable record and `Reject` for each record it cannot read (invalid UTF-8, missing columns).
Records are numbered from 1: lines for line-based formats, the line of the `<tu>` for TMX, the
row for Parquet. Cleanup and filters happen later (nmt.data.cleaning).
"""

from __future__ import annotations

import gzip
import json
import re
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from nmt.data.cleaning import escape_raw

MAX_LINE_BYTES = 1 << 24  # longer lines are rejected without being held in memory
_CHUNK = 1 << 20


@dataclass(slots=True)
class RawPair:
    """One decoded record; `split` is set where the source names it."""

    origin: str
    line: int
    src: str
    tgt: str
    split: str | None = None
    alignment: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """One record that was dropped, with a machine-readable reason."""

    origin: str
    line: int
    reason: str
    detail: str
    raw: str | None


Item = RawPair | Reject


class ReadError(ValueError):
    """A file that cannot be read as the format it was given as."""


def open_binary(path: Path) -> BinaryIO:
    """Open a plain or gzip file for binary reading (gzip detected by its magic bytes)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def iter_lines(path: Path, name: str, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (1-based number, line without its end) for each line; None for an over-long line.

    Raises ReadError when the file (decompressed) is larger than `max_bytes`.
    """
    total = 0
    with open_binary(path) as fh:
        number = 0
        while True:
            line = fh.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            total += len(line)
            overlong = len(line) > MAX_LINE_BYTES and not line.endswith(b"\n")
            while overlong and not line.endswith(b"\n"):  # skip the rest of the line
                line = fh.readline(_CHUNK)
                total += len(line)
                if not line:
                    break
            if total > max_bytes:
                raise ReadError(f"{name}: more than {max_bytes} bytes once decompressed")
            yield number, None if overlong else line.rstrip(b"\n").removesuffix(b"\r")


def decode(raw: bytes, origin: str, number: int) -> str | Reject:
    """Decode one line as UTF-8, or return the reject for it with its bytes escaped."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reject(
            origin,
            number,
            "invalid_utf8",
            f"{exc.reason} at byte {exc.start}",
            escape_raw(raw.decode("utf-8", "backslashreplace")),
        )


def _overlong(origin: str, number: int) -> Reject:
    return Reject(origin, number, "too_long", f"line longer than {MAX_LINE_BYTES} bytes", None)


def _decoded(lines: Iterator[tuple[int, bytes | None]], origin: str) -> Iterator[tuple[int, str | Reject]]:
    """Numbered lines as text, or as the reject of an over-long or undecodable line."""
    for number, raw in lines:
        yield number, _overlong(origin, number) if raw is None else decode(raw, origin, number)


_SEG = re.compile(rb"^\s*<seg\b[^>]*>(.*)</seg>\s*$", re.IGNORECASE)
_ENTITIES = {b"&lt;": b"<", b"&gt;": b">", b"&quot;": b'"', b"&apos;": b"'", b"&amp;": b"&"}
_ENTITY = re.compile(b"|".join(map(re.escape, _ENTITIES)))


def iter_segments(path: Path, name: str, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, text) of each `<seg>` line of a WMT SGML file, XML entities decoded.

    WMT test sets put one `<seg id="N">` per line inside `<doc>` elements; other lines (the
    `<srcset>`/`<refset>` and `<doc>` tags, `<p>` markers) carry no text and are skipped.
    """
    for number, raw in iter_lines(path, name, max_bytes):
        if raw is None:
            yield number, None
            continue
        seg = _SEG.match(raw)
        if seg is not None:
            yield number, _ENTITY.sub(lambda m: _ENTITIES[m.group()], seg.group(1))


def read_paired(
    src_path: Path,
    tgt_path: Path,
    src_name: str,
    tgt_name: str,
    max_bytes: int,
    sgml: bool = False,
) -> Iterator[Item]:
    """Read two line-aligned files, or the segments of two SGML files; unequal counts raise ReadError."""
    lines = iter_segments if sgml else iter_lines
    src_lines = lines(src_path, src_name, max_bytes)
    tgt_lines = lines(tgt_path, tgt_name, max_bytes)
    for number, (s, t) in enumerate(zip_longest(src_lines, tgt_lines), start=1):
        if s is None or t is None:
            n_src = number - 1 + (s is not None) + sum(1 for _ in src_lines)
            n_tgt = number - 1 + (t is not None) + sum(1 for _ in tgt_lines)
            what = "segment" if sgml else "line"
            raise ReadError(f"{what} counts differ: {src_name} has {n_src} {what}s, {tgt_name} has {n_tgt}")
        if s[1] is None or t[1] is None:
            yield _overlong(src_name, s[0]) if s[1] is None else _overlong(tgt_name, t[0])
            continue
        src = decode(s[1], src_name, s[0])
        tgt = decode(t[1], tgt_name, t[0])
        if isinstance(src, Reject) or isinstance(tgt, Reject):
            yield src if isinstance(src, Reject) else tgt
            continue
        yield RawPair(src_name, s[0], src, tgt)


def read_tsv(
    path: Path,
    name: str,
    src_col: int | str,
    tgt_col: int | str,
    split_col: int | str | None,
    max_bytes: int,
) -> Iterator[Item]:
    """Read tab-separated lines; string columns name fields of a header line."""
    lines = iter_lines(path, name, max_bytes)
    columns = [src_col, tgt_col] + ([] if split_col is None else [split_col])
    if any(isinstance(c, str) for c in columns):
        first = next(lines, None)
        header = [] if first is None or first[1] is None else first[1].decode("utf-8", "replace")
        header = header.split("\t") if header else []
        missing = [c for c in columns if isinstance(c, str) and c not in header]
        if missing:
            raise ReadError(f"{name}:1: header {header} lacks the columns {missing}")
        columns = [header.index(c) if isinstance(c, str) else c for c in columns]
    need = max(columns) + 1
    for number, text in _decoded(lines, name):
        if isinstance(text, Reject):
            yield text
            continue
        fields = text.split("\t")
        if len(fields) < need:
            yield Reject(name, number, "bad_columns", f"{len(fields)} columns, need {need}", escape_raw(text))
            continue
        split = fields[columns[2]] if len(columns) > 2 else None
        yield RawPair(name, number, fields[columns[0]], fields[columns[1]], split)


def read_jsonl(
    path: Path, name: str, src_key: str, tgt_key: str, split_key: str | None, max_bytes: int
) -> Iterator[Item]:
    """Read one JSON object per line with string fields `src_key` and `tgt_key`."""
    keys = [src_key, tgt_key] + ([] if split_key is None else [split_key])
    for number, text in _decoded(iter_lines(path, name, max_bytes), name):
        if isinstance(text, Reject):
            yield text
            continue
        if not text.strip():
            yield Reject(name, number, "empty", "blank line", None)
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Reject(name, number, "bad_record", f"invalid JSON: {exc.msg}", escape_raw(text))
            continue
        bad = [k for k in keys if not isinstance(record.get(k), str)] if isinstance(record, dict) else keys
        if bad:
            detail = f"fields {bad} missing or not strings"
            yield Reject(name, number, "bad_record", detail, escape_raw(text))
            continue
        split = record[split_key] if split_key is not None else None
        yield RawPair(name, number, record[src_key], record[tgt_key], split)


def read_parquet(path: Path, name: str, src_col: str, tgt_col: str, split_col: str | None) -> Iterator[Item]:
    """Read string columns of a Parquet file; record numbers are 1-based rows."""
    columns = [src_col, tgt_col] + ([] if split_col is None else [split_col])
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    for col in columns:
        if col not in schema.names:
            raise ReadError(f"{name}: no column {col!r}; columns are {schema.names}")
        if not (
            pa.types.is_string(schema.field(col).type) or pa.types.is_large_string(schema.field(col).type)
        ):
            raise ReadError(f"{name}: column {col!r} is {schema.field(col).type}, not a string")
    number = 0
    for batch in pf.iter_batches(columns=columns, batch_size=65536):
        rows = [batch.column(i).to_pylist() for i in range(len(columns))]
        for values in zip(*rows, strict=True):
            number += 1
            src, tgt = values[0], values[1]
            if src is None or tgt is None:
                side = "source" if src is None else "target"
                yield Reject(name, number, "empty", f"the {side} value is null", None)
                continue
            yield RawPair(name, number, src, tgt, values[2] if split_col else None)


# TMX inline elements whose content is markup of the original document, not text.
_TMX_CODES = {"bpt", "ept", "ph", "it", "ut"}


def _tmx_lang(attrs: dict[str, str]) -> str:
    return (attrs.get("xml:lang") or attrs.get("lang") or "").lower().replace("_", "-")


def _lang_matches(lang: str, want: str) -> bool:
    want = want.lower().replace("_", "-")
    return lang == want or lang.startswith(want + "-")


def read_tmx(path: Path, name: str, src_lang: str, tgt_lang: str) -> Iterator[Item]:
    """Read the `src_lang` and `tgt_lang` segments of each `<tu>` of a TMX file."""
    done: list[Item] = []
    state: dict = {"tu": None, "lang": None, "seg": None, "skip": 0}
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "tu":
            state["tu"] = {"line": parser.CurrentLineNumber, "segs": {}}
        elif tag == "tuv":
            state["lang"] = _tmx_lang(attrs)
        elif tag == "seg":
            state["seg"] = []
        elif tag in _TMX_CODES:
            state["skip"] += 1

    def end(tag: str) -> None:
        tu = state["tu"]
        if tag in _TMX_CODES:
            state["skip"] -= 1
        elif tag == "seg" and tu is not None and state["lang"] is not None:
            tu["segs"].setdefault(state["lang"], "".join(state["seg"]))
            state["seg"] = None
        elif tag == "tu" and tu is not None:
            segs = tu["segs"]
            src = next((t for lang, t in segs.items() if _lang_matches(lang, src_lang)), None)
            tgt = next((t for lang, t in segs.items() if _lang_matches(lang, tgt_lang)), None)
            if src is None or tgt is None:
                missing = src_lang if src is None else tgt_lang
                detail = f"no {missing!r} segment (languages: {sorted(segs)})"
                done.append(Reject(name, tu["line"], "missing_language", detail, None))
            else:
                done.append(RawPair(name, tu["line"], src, tgt))
            state["tu"] = None

    def text(data: str) -> None:
        if state["seg"] is not None and not state["skip"]:
            state["seg"].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    with open_binary(path) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            try:
                parser.Parse(chunk, not chunk)
            except xml.parsers.expat.ExpatError as exc:
                raise ReadError(f"{name}:{exc.lineno}: not well-formed TMX ({exc})") from exc
            yield from done
            done.clear()
            if not chunk:
                return

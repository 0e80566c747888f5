"""Reading input documents and cutting them into paragraphs and sentences, and back.

A document is parsed into a flat list of parts: verbatim text (kept as is in the output) and
`Sentence`s (replaced by their translation). Rendering concatenates the parts, so everything
that is not a sentence -- the blank lines between paragraphs, the spaces or line breaks
between sentences, Markdown markup -- comes out exactly as it went in.

Plain text (.txt, and the text field of table records): paragraphs are separated by one or
more blank lines (lines with only spaces or tabs); line endings are normalised to "\\n" and a
UTF-8 byte-order mark is dropped. Inside a sentence, line breaks and runs of spaces become one
space.

Sentences are split by the source language (nmt.text.splitting: a library chosen per language
by measurement, CJK included); a line break alone never ends a sentence, a blank line always does.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nmt.text.encoding import bom_encoding, likely_encoding
from nmt.text.splitting import split_sentences

_PARAGRAPH_GAP = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")


@dataclass(frozen=True)
class Sentence:
    """A sentence to translate and where it sits."""

    paragraph: int  # 0-based paragraph in the document
    sentence: int  # 0-based sentence in the paragraph
    text: str  # whitespace-normalised source
    line: int  # 1-based line where it starts


Part = str | Sentence


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace (line breaks included) to one space."""
    return " ".join(text.split())


def parse_text(text: str, lang: str | None = None) -> list[Part]:
    """Cut plain text in language `lang` into verbatim parts and sentences (paragraphs at blank lines)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    parts: list[Part] = []
    pos, paragraph = 0, 0
    bounds = [(m.start(), m.end()) for m in _PARAGRAPH_GAP.finditer(text)] + [(len(text), len(text))]
    for gap_start, gap_end in bounds:
        block = text[pos:gap_start]
        if block.strip():
            parts.extend(_paragraph_parts(block, paragraph, text.count("\n", 0, pos) + 1, lang))
            paragraph += 1
        elif block:
            parts.append(block)
        if gap_end > gap_start:
            parts.append(text[gap_start:gap_end])
        pos = gap_end
    return parts


def _paragraph_parts(block: str, paragraph: int, first_line: int, lang: str | None) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    for k, (start, end) in enumerate(split_sentences(block, lang)):
        if start > pos:
            parts.append(block[pos:start])
        line = first_line + block.count("\n", 0, start)
        parts.append(Sentence(paragraph, k, normalize_space(block[start:end]), line))
        pos = end
    if pos < len(block):
        parts.append(block[pos:])
    return parts


_PROTECTED = re.compile(
    r"""`+[^`]*?`+                  # code span
    | !\[[^\]]*\]\([^)]*\)          # image
    | \]\([^)]*\) | \]\[[^\]]*\]      # link destination or reference
    | <[^<>\s]+(?:\s[^<>]*)?>        # autolink or HTML tag
    | (?:https?|ftp)://[^\s<>()\[\]]+[^\s<>()\[\].,;:!?'"]  # bare URL
    | \\[^\s\w]                     # backslash escape
    | [*_~]+ | [\[\]]                 # emphasis and link brackets
    """,
    re.VERBOSE,
)


def parse_markdown(text: str, lang: str | None = None) -> list[Part]:
    """Cut Markdown in language `lang` into verbatim parts and sentences: the prose of paragraphs, headings.

    Code blocks, HTML blocks, tables, front matter and thematic breaks stay verbatim. In prose,
    code spans, URLs, link destinations, HTML tags, escapes and emphasis markers are kept and the
    text runs between them are translated, so each such run counts as one sentence. A paragraph
    is written back on one line (its list or quote markers kept).
    """
    from markdown_it import MarkdownIt

    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.splitlines(keepends=True)
    front = _front_matter(lines)
    body = "".join(lines[front:])
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(body)
    parts: list[Part] = []
    done, paragraph = 0, 0
    for k, tok in enumerate(tokens):
        if tok.type != "inline" or tokens[k - 1].type not in ("paragraph_open", "heading_open"):
            continue
        start, end = (front + x for x in tok.map or (0, 0))
        block = _prose_block(lines, start, end, tok.content, paragraph, lang)
        if block is None:
            continue
        parts.append("".join(lines[done:start]))
        parts.extend(block)
        paragraph += 1
        done = end
    parts.append("".join(lines[done:]))
    return [p for p in parts if p != ""]


def _front_matter(lines: list[str]) -> int:
    """Number of lines of a leading YAML front matter block ("---" ... "---"), else 0."""
    if not lines or lines[0].rstrip() != "---":
        return 0
    for k in range(1, len(lines)):
        if lines[k].rstrip() in ("---", "..."):
            return k + 1
    return 0


def _prose_block(
    lines: list[str], start: int, end: int, content: str, paragraph: int, lang: str | None
) -> list[Part] | None:
    """The parts of one paragraph or heading (lines start..end); None to keep it verbatim."""
    content_lines = content.split("\n")
    first, last = lines[start], lines[start + len(content_lines) - 1]
    head = first.find(content_lines[0])
    tail = last.rfind(content_lines[-1])
    if head < 0 or tail < 0 or start + len(content_lines) > end:
        return None
    parts: list[Part] = [first[:head]]
    parts.extend(_prose_parts(content, paragraph, start + 1, lang))
    parts.append(last[tail + len(content_lines[-1]) :])
    parts.extend(lines[start + len(content_lines) : end])  # a setext heading's underline
    return parts


def _prose_parts(content: str, paragraph: int, first_line: int, lang: str | None) -> list[Part]:
    protected = [m.span() for m in _PROTECTED.finditer(content)]
    masked = list(content)
    for a, b in protected:
        masked[a:b] = "X" * (b - a)
    parts: list[Part] = []
    pos, unit = 0, 0
    for start, end in split_sentences("".join(masked), lang):
        cuts = [start] + [x for span in protected for x in span if start < x < end] + [end]
        if start > pos:
            parts.append(content[pos:start].replace("\n", " "))
        for a, b in zip(cuts, cuts[1:], strict=False):
            piece = content[a:b]
            if any((a <= x < b) for x, _ in protected) or not any(c.isalnum() for c in piece):
                parts.append(piece.replace("\n", " "))
                continue
            core = piece.strip()
            lead = piece[: len(piece) - len(piece.lstrip())]
            trail = piece[len(lead) + len(core) :]
            line = first_line + content.count("\n", 0, a)
            parts += [lead.replace("\n", " "), Sentence(paragraph, unit, normalize_space(core), line)]
            parts.append(trail.replace("\n", " "))
            unit += 1
        pos = end
    parts.append(content[pos:].replace("\n", " "))
    return [p for p in parts if p != ""]


def parse(text: str, kind: str, lang: str | None = None) -> list[Part]:
    """Parse a document of format `kind` ("txt" or "md") in language `lang` (None: unknown)."""
    return parse_markdown(text, lang) if kind == "md" else parse_text(text, lang)


def render(parts: list[Part], translations: dict[tuple[int, int], str]) -> str:
    """Put a document back together with each sentence replaced by translations[(para, sent)]."""
    return "".join(p if isinstance(p, str) else translations[(p.paragraph, p.sentence)] for p in parts)


def sentences_of(parts: list[Part]) -> list[Sentence]:
    """The sentences of a parsed document, in order."""
    return [p for p in parts if isinstance(p, Sentence)]


class DocumentError(Exception):
    """An input that cannot be translated, with a short machine-readable reason."""

    def __init__(self, reason: str, detail: str, line: int | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.line = reason, detail, line


SUFFIXES = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class InputDocument:
    """One input document: its id (its output path under docs/), where it is, its format."""

    doc_id: str
    path: str
    kind: str  # a SUFFIXES value, "unsupported", "missing" or "link_outside"


def iter_inputs(inputs: list[str | Path]) -> Iterator[InputDocument]:
    """Input documents in a fixed order: folders walked sorted, globs sorted, files as given.

    doc_id is the path relative to the folder, or to the glob's folder part, or the file name
    of a file given by name. Hidden files and folders (".name") under a folder or glob are skipped;
    other files whose suffix is not in SUFFIXES are yielded as "unsupported" so that they are
    reported; a file given by name is read as plain text whatever its suffix. Inputs stay inside
    the roots named: a path under a folder or glob that resolves outside it (a symbolic link, a
    ".." in the pattern) is yielded as "link_outside" and never read.
    """
    for item in inputs:
        text = str(item)
        if _GLOB_CHARS & set(text):
            root, pattern = _glob_root(text)
            for path in sorted(root.glob(pattern)):
                rel = path.relative_to(root)
                if any(p.startswith(".") and p != ".." for p in rel.parts):
                    continue
                if ".." in rel.parts or not _inside(path, root):
                    yield InputDocument(rel.as_posix(), str(path), "link_outside")
                elif path.is_file():
                    yield _input(rel.as_posix(), path, strict=True)
        elif Path(text).is_dir():
            root = Path(text)
            for path, outside in _walk(root, root.resolve(), set()):
                rel = path.relative_to(root).as_posix()
                yield InputDocument(rel, str(path), "link_outside") if outside else _input(rel, path, True)
        elif Path(text).exists():
            yield _input(Path(text).name, Path(text), strict=False)
        else:
            yield InputDocument(Path(text).name or text, text, "missing")


def _inside(path: Path, root: Path) -> bool:
    """Whether `path`, links and ".." resolved, lies under `root` (resolved too)."""
    return path.resolve().is_relative_to(root.resolve())


def _input(doc_id: str, path: Path, strict: bool) -> InputDocument:
    kind = SUFFIXES.get(path.suffix.lower(), "unsupported" if strict else "txt")
    return InputDocument(doc_id, str(path), kind)


def _glob_root(pattern: str) -> tuple[Path, str]:
    parts = Path(pattern).parts
    fixed = 0
    while fixed < len(parts) - 1 and not (_GLOB_CHARS & set(parts[fixed])):
        fixed += 1
    return Path(*parts[:fixed]) if fixed else Path("."), str(Path(*parts[fixed:]))


def _walk(folder: Path, root: Path, seen: set[Path]) -> Iterator[tuple[Path, bool]]:
    """The files under `folder` sorted, each with whether it is a link resolving outside `root`.

    Links resolving inside `root` are followed, each folder once (a link to a parent ends there).
    """
    seen.add(folder.resolve())
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink() and not path.resolve().is_relative_to(root):
            yield path, True
        elif entry.is_dir():
            if path.resolve() not in seen:
                yield from _walk(path, root, seen)
        elif entry.is_file():
            yield path, False


def read_text(path: str | Path) -> str:
    """Read a text document; raise DocumentError for a missing, binary, non-UTF-8 or empty one."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError("file_missing", f"the file disappeared: {exc}") from exc
    except OSError as exc:
        raise DocumentError("unreadable", str(exc)) from exc
    return decode_text(data)


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (or BOM-marked UTF-16/32) text; raise DocumentError for binary, other or empty data."""
    marked = bom_encoding(data)
    if marked is not None:
        name, skip = marked
        try:
            text = data[skip:].decode(name)
        except UnicodeDecodeError as exc:
            raise DocumentError(
                "invalid_encoding", f"{name} byte-order mark, but {exc.reason} at byte {exc.start + skip}"
            ) from exc
    else:
        text = _decode_utf8(data)
    if not text.strip():
        raise DocumentError("empty", "no text" if not data else "only whitespace")
    return text


def _decode_utf8(data: bytes) -> str:
    """Decode unmarked data as UTF-8, naming the likely encoding of anything else."""
    nul = data.find(b"\x00", 0, 1 << 16)
    if nul >= 0:
        raise DocumentError("binary", f"NUL byte at offset {nul}", data.count(b"\n", 0, nul) + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        guess = likely_encoding(data)
        hint = f"; it looks like {guess}: convert it with `iconv -f {guess} -t utf-8`" if guess else ""
        raise DocumentError("invalid_utf8", f"{exc.reason} at byte {exc.start}{hint}", line) from exc


TABLE_KINDS = frozenset({"jsonl", "parquet"})


@dataclass(frozen=True)
class Record:
    """One record of a table input (a document of its own), or why it is not one."""

    start: int  # JSONL: byte offset of its line; Parquet: row index
    stop: int  # JSONL: byte offset after its line; Parquet: row index + 1
    line: int  # 1-based line (JSONL) or row (Parquet)
    key: str | None  # the id column, as text
    text: str | None  # None: a blank JSONL line, or a record with an error
    error: DocumentError | None = None


def iter_records(
    path: str | Path,
    kind: str,
    id_column: str = "id",
    text_column: str = "text",
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
) -> Iterator[Record]:
    """Records of a JSONL or Parquet table from position `start` (see Record) up to `stop`.

    Raises DocumentError when the table as a whole cannot be read (missing, binary JSONL,
    not Parquet, no id/text column).
    """
    try:
        if kind == "jsonl":
            yield from _jsonl_records(Path(path), id_column, text_column, start, stop, first_line)
        else:
            yield from _parquet_records(Path(path), id_column, text_column, start, stop)
    except FileNotFoundError as exc:
        raise DocumentError("file_missing", f"the file disappeared: {exc}") from exc
    except OSError as exc:
        raise DocumentError("unreadable", str(exc)) from exc


def _jsonl_records(path: Path, id_column: str, text_column: str, start: int, stop: int | None, line: int):
    with open(path, "rb") as fh:
        nul = fh.read(1 << 16).find(b"\x00")
        if nul >= 0:
            raise DocumentError("binary", f"NUL byte at offset {nul}")
        fh.seek(start)
        pos = start
        for raw in fh:
            if stop is not None and pos >= stop:
                break
            yield _jsonl_record(raw, pos, line, id_column, text_column)
            pos += len(raw)
            line += 1


def _jsonl_record(raw: bytes, pos: int, line: int, id_column: str, text_column: str) -> Record:
    span = (pos, pos + len(raw), line)
    if not raw.strip():
        return Record(*span, None, None)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Record(
            *span, None, None, DocumentError("invalid_utf8", f"{exc.reason} at byte {exc.start}", line)
        )
    except ValueError as exc:
        return Record(*span, None, None, DocumentError("bad_record", f"not JSON: {exc}", line))
    return _checked(span, obj.get(id_column) if isinstance(obj, dict) else None, obj, text_column)


def _checked(span: tuple[int, int, int], key: Any, obj: Any, text_column: str) -> Record:
    text = obj.get(text_column) if isinstance(obj, dict) else None
    if key is None or not isinstance(text, str):
        detail = f"a record needs an id and a string {text_column!r}"
        key = None if key is None else str(key)
        return Record(*span, key, None, DocumentError("bad_record", detail, span[2]))
    if not text.strip():
        return Record(*span, str(key), None, DocumentError("empty", f"record {key}: no text", span[2]))
    return Record(*span, str(key), text)


def _parquet_records(path: Path, id_column: str, text_column: str, start: int, stop: int | None):
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, ValueError) as exc:
        if path.exists():
            raise DocumentError("unreadable", f"not a Parquet file: {exc}") from exc
        raise
    names = table.schema_arrow.names
    if id_column not in names or text_column not in names:
        raise DocumentError("bad_table", f"needs columns {id_column!r} and {text_column!r}, has {names}")
    row = 0
    for batch in table.iter_batches(batch_size=8192, columns=[id_column, text_column]):
        if row + batch.num_rows > start:
            ids, texts = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            for k in range(max(0, start - row), batch.num_rows):
                r = row + k
                if stop is not None and r >= stop:
                    return
                yield _checked((r, r + 1, r + 1), ids[k], {text_column: texts[k]}, text_column)
        row += batch.num_rows


def read_parquet_rows(path: str | Path, start: int, stop: int) -> pa.Table:
    """Rows start..stop of a Parquet file, all columns, as an Arrow table."""
    table = pq.ParquetFile(path)
    batches, row = [], 0
    for batch in table.iter_batches(batch_size=8192):
        lo, hi = max(start - row, 0), min(stop - row, batch.num_rows)
        if hi > lo:
            batches.append(batch.slice(lo, hi - lo))
        row += batch.num_rows
        if row >= stop:
            break
    return pa.Table.from_batches(batches, schema=table.schema_arrow)

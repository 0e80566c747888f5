"""Lines of a pipe in batches of what is ready: the next batch never waits on input while lines are held."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator

CHUNK = 1 << 16  # bytes per read


def ready_line_batches(fd: int, max_lines: int, name: str = "<stdin>") -> Iterator[list[str]]:
    """UTF-8 lines of file descriptor `fd` (without line endings), at most `max_lines` a batch.

    A batch ends at `max_lines`, at end of input, or when lines are held and `fd` has no more
    data ready, so a reader of the output sees a line as soon as its batch is done. Invalid
    UTF-8 raises ValueError naming `name` and the line.
    """
    buffer, pos, line_no, eof = b"", 0, 0, False
    while not eof or pos < len(buffer):
        batch: list[str] = []
        while len(batch) < max_lines:
            end = buffer.find(b"\n", pos)
            if end >= 0 or (eof and pos < len(buffer)):
                end = len(buffer) if end < 0 else end
                line_no += 1
                batch.append(_decode(buffer[pos:end].removesuffix(b"\r"), name, line_no))
                pos = end + 1
                continue
            if eof or (batch and not _ready(fd)):
                break
            chunk = os.read(fd, CHUNK)
            eof = not chunk
            buffer, pos = buffer[pos:] + chunk, 0
        if batch:
            yield batch


def _ready(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _decode(raw: bytes, name: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}:{line}: not UTF-8 (byte {exc.start + 1}): convert it to UTF-8") from exc

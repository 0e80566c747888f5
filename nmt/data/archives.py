"""Safe extraction of zip and tar archives, and finding a file inside the result.

Refused, with an UnsafeArchive error naming the archive and the entry: absolute paths, `..`,
links pointing outside the target folder, and more than `max_bytes` once decompressed (counted
while writing, so a lying header does not help). Junk such as `__MACOSX/`, `._*` and
`.DS_Store` is skipped; links inside the folder and device files are skipped too. Extraction
goes to a temporary folder renamed into place when complete, so a finished folder is whole.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_CHUNK = 1 << 20


class UnsafeArchive(ValueError):
    """An archive entry that would escape the target folder, or an archive too large."""


def is_archive(name: str) -> bool:
    """Whether a file name ends like a zip or tar archive."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def is_junk(member: str) -> bool:
    """macOS resource forks and folder metadata that are not part of the data."""
    parts = member.split("/")
    return "__MACOSX" in parts or parts[-1] == ".DS_Store" or parts[-1].startswith("._")


def _target(archive: str, member: str, root: Path) -> Path:
    """The path `member` extracts to, refusing absolute paths and `..`."""
    name = member.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"{archive}: entry {member!r} has an absolute path")
    if ".." in name.split("/"):
        raise UnsafeArchive(f"{archive}: entry {member!r} points outside the target folder (`..`)")
    return root / name


def _check_link(archive: str, member: str, link: str, base: str) -> None:
    """Refuse a link whose target, resolved from `base` inside the archive, leaves the folder."""
    target = posixpath.normpath(posixpath.join(base, link.replace("\\", "/")))
    if link.startswith("/") or target == ".." or target.startswith("../"):
        raise UnsafeArchive(f"{archive}: link {member!r} -> {link!r} points outside the target folder")
    log.info("%s: skipping link %s -> %s", archive, member, link)


class _Budget:
    """Counts decompressed bytes against the limit."""

    def __init__(self, archive: str, max_bytes: int) -> None:
        self.archive, self.left, self.max_bytes = archive, max_bytes, max_bytes

    def copy(self, src: BinaryIO, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as out:
            while chunk := src.read(_CHUNK):
                self.left -= len(chunk)
                if self.left < 0:
                    raise UnsafeArchive(
                        f"{self.archive}: decompresses to more than the limit of {self.max_bytes} bytes"
                    )
                out.write(chunk)


def _extract_zip(archive: Path, root: Path, max_bytes: int) -> None:
    budget = _Budget(archive.name, max_bytes)
    with zipfile.ZipFile(archive) as zf:
        infos = [i for i in zf.infolist() if not is_junk(i.filename)]
        declared = sum(i.file_size for i in infos)
        if declared > max_bytes:
            raise UnsafeArchive(
                f"{archive.name}: declares {declared} bytes, more than the limit of {max_bytes}"
            )
        for info in infos:
            dest = _target(archive.name, info.filename, root)
            if stat.S_ISLNK(info.external_attr >> 16):
                link = zf.read(info).decode("utf-8", "replace")
                _check_link(archive.name, info.filename, link, posixpath.dirname(info.filename))
            elif info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                with zf.open(info) as src:
                    budget.copy(src, dest)


def _extract_tar(archive: Path, root: Path, max_bytes: int) -> None:
    budget = _Budget(archive.name, max_bytes)
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            if is_junk(member.name):
                continue
            dest = _target(archive.name, member.name, root)
            if member.issym():
                _check_link(archive.name, member.name, member.linkname, posixpath.dirname(member.name))
            elif member.islnk():
                _check_link(archive.name, member.name, member.linkname, "")
            elif member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                src = tf.extractfile(member)
                assert src is not None  # a regular file always has data
                budget.copy(src, dest)
            else:
                log.info("%s: skipping special file %s", archive.name, member.name)


def extract(archive: Path, dest: Path, max_bytes: int) -> Path:
    """Extract `archive` into the folder `dest` once (a finished `dest` is reused) and return it."""
    if dest.is_dir():
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, tmp, max_bytes)
        else:
            _extract_tar(archive, tmp, max_bytes)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: extracted to %s", archive.name, dest)
    return dest


def find_member(root: Path, pattern: str | None, archive: str) -> Path:
    """The one extracted file whose relative path or name matches `pattern` (None: the only file)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rel = [p.relative_to(root).as_posix() for p in files]
    if pattern is not None:
        hits = [
            p
            for p, r in zip(files, rel, strict=True)
            if fnmatch.fnmatch(r, pattern) or fnmatch.fnmatch(p.name, pattern)
        ]
    else:
        hits = files
    if len(hits) != 1:
        what = "no file" if not hits else f"{len(hits)} files"
        raise FileNotFoundError(
            f"{archive}: {what} matching {pattern or '*'}; it holds {rel}"
            + ("" if pattern else "; name one with `member`")
        )
    return hits[0]

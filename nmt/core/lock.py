"""One process at a time per output folder: an advisory file lock that names its holder.

The lock is `.<name>.lock` beside the folder (outside it, so a stage that fails before writing
leaves no folder, and the folder's files stay exactly the stage's output), locked with flock
through portalocker. The kernel drops the lock
when the holding process dies, so a SIGKILLed run never leaves a stale lock behind; the file's
content (pid, host, what, since) only names the holder in messages. Each stage chooses what a
second process does (docs/architecture.md, "Concurrency"): `wait=True` blocks until the holder
is done, logging who it waits for (stages whose rerun finds the finished output and returns);
`wait=False` refuses with `FolderBusy`, a one-line error naming the holder (training: two
trainers of one run would fight over its checkpoints).

Within one process the lock is re-entrant: a stage called by another that holds the same folder
(the pipeline, a flow and its tasks on threads) goes straight in.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import portalocker

log = logging.getLogger(__name__)


_held: dict[Path, int] = {}
_guard = threading.Lock()


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock and this stage does not wait."""


def lock_path(folder: Path) -> Path:
    """The lock file of a folder: a hidden file beside it."""
    folder = Path(folder).resolve()
    return folder.parent / f".{folder.name}.lock"


def holder(folder: Path) -> str:
    """Who holds (or last held) the folder's lock, in words."""
    try:
        info = json.loads(lock_path(folder).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info['pid']} on {info['host']} ({info['what']}, since {info['since']})"


@contextmanager
def folder_lock(folder: Path, what: str, wait: bool) -> Iterator[None]:
    """Hold the folder's lock for a with-block; wait for another holder or raise FolderBusy."""
    folder = Path(folder).resolve()
    with _guard:
        if folder in _held:
            _held[folder] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[folder] -= 1
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(folder), "a+") as fh:
        _acquire(fh, folder, what, wait)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(_me(what)))
        fh.flush()
        with _guard:
            _held[folder] = 1
        try:
            yield
        finally:
            with _guard:
                del _held[folder]
            fh.seek(0)
            fh.truncate()
            fh.flush()
            portalocker.unlock(fh)


def locks_folder(
    what: str, wait: bool, folder: str = "out_dir", when: Callable[[], bool] | None = None
) -> Callable[[Callable], Callable]:
    """Decorate a stage so each call holds the lock of its `folder` argument (unless `when()` is false)."""

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            if when is not None and not when():
                return fn(*args, **kwargs)
            path = signature.bind(*args, **kwargs).arguments[folder]
            with folder_lock(Path(path), what, wait):
                return fn(*args, **kwargs)

        return locked

    return decorate


def _acquire(fh, folder: Path, what: str, wait: bool) -> None:
    """Take the lock at once, or wait for it, or raise FolderBusy naming the holder."""
    try:
        portalocker.lock(fh, portalocker.LOCK_EX | portalocker.LOCK_NB)
        return
    except portalocker.LockException:
        pass
    who = holder(folder)
    if not wait:
        raise FolderBusy(f"{folder} is in use by {who}: let it finish or stop it, then run {what} again")
    log.warning("%s: waiting for %s to finish with %s", what, who, folder)
    start = time.monotonic()
    portalocker.lock(fh, portalocker.LOCK_EX)
    log.info("%s: %s is free after %.1f s", what, folder, time.monotonic() - start)


def _me(what: str) -> dict:
    """This process as the lock file records it."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "what": what,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argv": sys.argv[:3],
    }

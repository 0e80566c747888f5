"""Fetch corpus files: http(s) downloads into a cache (resume, retries, timeouts, size limit, sha256).

A download goes to `<cache>/<hash of the URL>/<file name>.part`, resumes from there with a Range
request after a broken connection, and is renamed to its final name only once complete and
verified, so a file with its final name is always whole. Local paths are used where they lie.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tqdm import tqdm

from nmt import __version__
from nmt.core.atomic import file_sha256

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadConfig(BaseModel):
    """Network limits for fetching corpus files."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(60.0, gt=0, description="connect/read timeout per request")
    attempts: int = Field(5, ge=1, description="tries per file, resuming after each failure")
    backoff_s: float = Field(1.0, ge=0, description="first wait between tries, doubled each time")
    backoff_max_s: float = Field(30.0, ge=0)
    max_bytes: int = Field(8 << 30, gt=0, description="largest download accepted")
    max_extract_bytes: int = Field(
        32 << 30, gt=0, description="largest size of an archive or .gz file once decompressed"
    )


class DownloadError(RuntimeError):
    """A file could not be fetched."""


class MissingFile(DownloadError):
    """The location does not exist (HTTP 404/410, or no such local file)."""


class DigestMismatch(DownloadError):
    """A file's sha256 differs from the expected one."""


class _Incomplete(Exception):
    """The server closed the response early or the partial file was unusable: try again."""


@dataclass(frozen=True)
class Fetched:
    """A fetched file: where it came from, where it lies, its digest."""

    location: str
    path: Path
    sha256: str
    size: int
    downloaded: bool  # False when it came from the cache or a local path

    def record(self, expected: str | None) -> dict:
        """The manifest entry of this file."""
        return {
            "location": self.location,
            "name": self.path.name,
            "sha256": self.sha256,
            "bytes": self.size,
            "verified": expected is not None,
            "downloaded": self.downloaded,
        }


def is_url(location: str) -> bool:
    """Whether `location` is an http(s) URL."""
    return location.startswith(("http://", "https://"))


def location_name(location: str) -> str:
    """The file name a path or URL ends with."""
    path = unquote(urlsplit(location).path) if is_url(location) else location
    return Path(path).name


def cache_path(url: str, cache_dir: Path) -> Path:
    """Where the download of `url` is kept."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(cache_dir) / key / (location_name(url) or "download")


def _check_digest(location: str, expected: str | None, actual: str, what: str) -> None:
    if expected is not None and actual != expected.lower():
        raise DigestMismatch(f"{location}: sha256 {actual} does not match the expected {expected}; {what}")


def fetch(location: str, cache_dir: Path, cfg: DownloadConfig, sha256: str | None = None) -> Fetched:
    """Return a local, complete, verified copy of `location` (a path or an http(s) URL)."""
    if not is_url(location):
        path = Path(location.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise MissingFile(f"{path}: no such file")
        digest = file_sha256(path)
        _check_digest(location, sha256, digest, "the local file was left as it is")
        return Fetched(location, path, digest, path.stat().st_size, downloaded=False)

    dest = cache_path(location, cache_dir)
    if dest.is_file():
        digest = file_sha256(dest)
        if sha256 is None or digest == sha256.lower():
            log.info("%s: cached at %s", location, dest)
            return Fetched(location, dest, digest, dest.stat().st_size, downloaded=False)
        log.warning("%s: cached copy has sha256 %s, not %s: downloading again", location, digest, sha256)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _download(location, part, cfg)
    digest = file_sha256(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
    _check_digest(location, sha256, digest, "the download was deleted")
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, dest)
    log.info("%s: downloaded %d bytes to %s", location, dest.stat().st_size, dest)
    return Fetched(location, dest, digest, dest.stat().st_size, downloaded=True)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _TRANSIENT_STATUS
    return isinstance(exc, (httpx.TransportError, _Incomplete))


def _download(url: str, part: Path, cfg: DownloadConfig) -> None:
    retrying = Retrying(
        stop=stop_after_attempt(cfg.attempts),
        wait=wait_exponential(multiplier=cfg.backoff_s, max=cfg.backoff_max_s),
        retry=retry_if_exception(_transient),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    headers = {"User-Agent": f"nmt-bahdanau/{__version__}", "Accept-Encoding": "identity"}
    with httpx.Client(timeout=cfg.timeout_s, follow_redirects=True, headers=headers) as client:
        try:
            for attempt in retrying:
                with attempt:
                    _download_once(client, url, part, cfg)
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            kind = MissingFile if status in (404, 410) else DownloadError
            raise kind(f"{url}: HTTP {status} {exc.response.reason_phrase}") from exc
        except (httpx.TransportError, _Incomplete) as exc:
            raise DownloadError(f"{url}: gave up after {cfg.attempts} tries: {exc}") from exc


def _download_once(client: httpx.Client, url: str, part: Path, cfg: DownloadConfig) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and have:
            part.unlink()
            raise _Incomplete(f"the server refused to resume at byte {have}; starting over")
        response.raise_for_status()
        if response.status_code == 206:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start != str(have):
                part.unlink()
                raise _Incomplete(f"asked to resume at byte {have}, got range {start!r}")
            mode = "ab"
        else:
            have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if total is not None and total > cfg.max_bytes:
            raise DownloadError(f"{url}: {total} bytes exceeds the limit of {cfg.max_bytes}")
        if have:
            log.info("%s: resuming at byte %d", url, have)
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                leave=False,
                desc=location_name(url),
                disable=None,
            ) as bar,
        ):
            for chunk in response.iter_raw():  # as received: a cut keeps what arrived
                have += len(chunk)
                if have > cfg.max_bytes:
                    fh.close()
                    part.unlink()
                    raise DownloadError(f"{url}: more than the limit of {cfg.max_bytes} bytes")
                fh.write(chunk)
                bar.update(len(chunk))
        if total is not None and have != total:
            raise _Incomplete(f"got {have} of {total} bytes")

"""The acquire stage: corpus files fetched, verified, read and cleaned into the pairs table.

`run_acquire(cfg, out_dir)` writes, under `out_dir`:

    pairs.parquet      PAIRS: every kept pair, ids in split order (train, valid, test, extras)
    rejects.parquet    REJECTS: every dropped line with its file, line number and reason
    manifest.json      sources, file digests, counts per split and per reject reason
    gold/<split>.talp  gold word alignments (generated corpus only), line i = i-th pair by id

The manifest is written last and carries a fingerprint of the configuration, the input digests
and this code, so a rerun with the same inputs returns the recorded summary and does no work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm import tqdm

from nmt.atomic import read_json, write_json, write_parquet, write_text
from nmt.cleaning import CleaningConfig, Deduper, check_pair, clean_text, escape_raw
from nmt.download import DownloadConfig, Fetched, fetch, is_url, location_name
from nmt.readers import Item, RawPair, Reject, read_paired
from nmt.schema import PAIRS, REJECTS, SCHEMA_VERSION

log = logging.getLogger(__name__)

SPLIT_ALIASES = {"val": "valid", "dev": "valid", "validation": "valid"}
_MAIN_SPLITS = ("train", "valid", "test")
_CODE_FILES = ("acquire.py", "cleaning.py", "readers.py", "download.py")


class GeneratedSource(BaseModel):
    """The generated corpus of nmt.synthetic, with gold alignments."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["generated"] = "generated"
    sizes: dict[str, int] = Field(default_factory=lambda: {"train": 20000, "valid": 500, "test": 500})
    seed: int = 1


class FilePair(BaseModel):
    """Two line-aligned files (paths or http(s) URLs, plain or .gz) with optional digests."""

    model_config = ConfigDict(extra="forbid")

    src: str
    tgt: str
    src_sha256: str | None = None
    tgt_sha256: str | None = None


class FilesSource(BaseModel):
    """Explicit per-split pairs of aligned text files."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["files"] = "files"
    splits: dict[str, FilePair]
    src_lang: str | None = None
    tgt_lang: str | None = None

    @field_validator("splits")
    @classmethod
    def _some_split(cls, value: dict[str, FilePair]) -> dict[str, FilePair]:
        if not value:
            raise ValueError("give at least one split")
        return value


class DirectorySource(BaseModel):
    """A folder or base URL of `<split>.<lang>[.gz]` files, as Multi30k publishes them.

    `val`/`dev` become `valid`; `main_test` (default: `test` if present, else the first test
    set by name) becomes `test`; other splits keep their names. A URL needs `splits`.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["directory"] = "directory"
    location: str
    src_lang: str
    tgt_lang: str
    splits: list[str] | None = Field(None, description="file stems; None: all found (folders only)")
    main_test: str | None = None


Source = Annotated[GeneratedSource | FilesSource | DirectorySource, Field(discriminator="kind")]


class AcquireConfig(BaseModel):
    """Everything the acquire stage needs: the source, cleaning, downloads, cache and mirror."""

    model_config = ConfigDict(extra="forbid")

    source: Source = Field(default_factory=GeneratedSource)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    cache_dir: Path | None = Field(None, description="downloads; None: $NMT_CACHE or ~/.cache/nmt")


@dataclass
class _Input:
    """One stream of records and the split it belongs to (None: the record says, or seeded)."""

    name: str
    split: str | None
    items: Callable[[], Iterator[Item]]


@dataclass
class _Plan:
    """What a source resolved to: the streams to read, the files behind them, what was skipped."""

    corpus: str
    src_lang: str | None
    tgt_lang: str | None
    inputs: list[_Input] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


@dataclass
class _Fetcher:
    """Fetches locations into the cache and records each file once for the manifest."""

    cache_dir: Path
    cfg: DownloadConfig
    files: list[dict] = field(default_factory=list)

    def __call__(self, location: str, sha256: str | None = None, **extra) -> Fetched:
        fetched = fetch(location, self.cache_dir, self.cfg, sha256)
        self.files.append({**extra, **fetched.record(sha256)})
        return fetched


def default_cache_dir() -> Path:
    """$NMT_CACHE, else ~/.cache/nmt."""
    return Path(os.environ.get("NMT_CACHE") or "~/.cache/nmt").expanduser()


def split_name(stem: str, main_test: str | None) -> str:
    """The pipeline's name for a published split: val -> valid, the main test set -> test."""
    if stem == main_test:
        return "test"
    return SPLIT_ALIASES.get(stem, stem)


def _split_order(name: str) -> tuple[int, str]:
    return (_MAIN_SPLITS.index(name), "") if name in _MAIN_SPLITS else (len(_MAIN_SPLITS), name)


def _main_test(stems: list[str], chosen: str | None) -> str | None:
    if chosen is not None:
        return chosen
    if "test" in stems:
        return "test"
    return min((s for s in stems if s.startswith("test")), default=None)


def _paired_input(
    fetcher: _Fetcher, split: str, pair: FilePair, max_bytes: int
) -> _Input:
    src = fetcher(pair.src, pair.src_sha256, split=split, side="src")
    tgt = fetcher(pair.tgt, pair.tgt_sha256, split=split, side="tgt")
    src_name, tgt_name = location_name(pair.src), location_name(pair.tgt)
    return _Input(
        src_name,
        split,
        lambda: read_paired(src.path, tgt.path, src_name, tgt_name, max_bytes),
    )


def _plan_generated(source: GeneratedSource) -> _Plan:
    from nmt import synthetic

    module = Path(synthetic.__file__)
    plan = _Plan("generated", synthetic.SRC_LANG, synthetic.TGT_LANG)
    plan.files.append(
        {"location": "nmt/synthetic.py", "name": module.name,
         "sha256": hashlib.sha256(module.read_bytes()).hexdigest()}
    )

    def items() -> Iterator[Item]:
        for split, pairs in synthetic.generate_splits(source.seed, source.sizes).items():
            for number, pair in enumerate(pairs, start=1):
                origin = f"generated.{split}"
                yield RawPair(origin, number, pair.src, pair.tgt, split, pair.alignment)

    plan.inputs.append(_Input("generated", None, items))
    return plan


def _plan_files(source: FilesSource, fetcher: _Fetcher, max_bytes: int) -> _Plan:
    plan = _Plan("files", source.src_lang, source.tgt_lang)
    for split, pair in source.splits.items():
        plan.inputs.append(_paired_input(fetcher, SPLIT_ALIASES.get(split, split), pair, max_bytes))
    return plan


def _find_stems(source: DirectorySource) -> list[str]:
    if source.splits is not None:
        return list(source.splits)
    if is_url(source.location):
        raise ValueError(f"{source.location}: a base URL cannot be listed; give `splits`")
    folder = Path(source.location).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    stems = []
    for path in sorted(folder.iterdir()):
        name = path.name.removesuffix(".gz")
        stem = name.removesuffix(f".{source.src_lang}")
        if stem != name and _dir_file(source, stem, source.tgt_lang) is not None:
            stems.append(stem)
    if not stems:
        raise FileNotFoundError(
            f"{folder}: no <split>.{source.src_lang}[.gz] file with a .{source.tgt_lang} partner"
        )
    return stems


def _dir_file(source: DirectorySource, stem: str, lang: str) -> str | None:
    folder = Path(source.location).expanduser()
    for name in (f"{stem}.{lang}", f"{stem}.{lang}.gz"):
        if (folder / name).is_file():
            return str(folder / name)
    return None


def _plan_directory(source: DirectorySource, fetcher: _Fetcher, max_bytes: int) -> _Plan:
    plan = _Plan("directory", source.src_lang, source.tgt_lang)
    stems = _find_stems(source)
    main_test = _main_test(stems, source.main_test)
    for stem in stems:
        if is_url(source.location):
            base = source.location.rstrip("/")
            pair = FilePair(src=f"{base}/{stem}.{source.src_lang}.gz",
                            tgt=f"{base}/{stem}.{source.tgt_lang}.gz")
        else:
            src, tgt = (_dir_file(source, stem, lang) for lang in (source.src_lang, source.tgt_lang))
            if src is None or tgt is None:
                raise FileNotFoundError(
                    f"{source.location}: split {stem!r} lacks {stem}.{source.src_lang}[.gz] "
                    f"or {stem}.{source.tgt_lang}[.gz]"
                )
            pair = FilePair(src=src, tgt=tgt)
        plan.inputs.append(_paired_input(fetcher, split_name(stem, main_test), pair, max_bytes))
    return plan


def _plan(cfg: AcquireConfig, fetcher: _Fetcher) -> _Plan:
    source, max_bytes = cfg.source, cfg.download.max_bytes
    if isinstance(source, GeneratedSource):
        plan = _plan_generated(source)
    elif isinstance(source, FilesSource):
        plan = _plan_files(source, fetcher, max_bytes)
    else:
        plan = _plan_directory(source, fetcher, max_bytes)
    plan.files.extend(fetcher.files)
    return plan


def _code_digest() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _fingerprint(cfg: AcquireConfig, plan: _Plan) -> str:
    key = {
        "schema": SCHEMA_VERSION,
        "code": _code_digest(),
        "source": cfg.source.model_dump(mode="json"),
        "cleaning": cfg.cleaning.model_dump(mode="json"),
        "files": sorted(f["sha256"] for f in plan.files),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass
class _Tables:
    """Kept pairs per split and rejects, in reading order."""

    pairs: dict[str, list[tuple[str, str, str, str | None]]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)


def _collect(plan: _Plan, cleaning: CleaningConfig) -> _Tables:
    tables = _Tables()
    deduper = Deduper()
    for inp in plan.inputs:
        for item in tqdm(inp.items(), desc=inp.name, unit=" lines", disable=None, leave=False):
            if isinstance(item, Reject):
                tables.rejects.append(item)
                continue
            src, tgt = clean_text(item.src, cleaning), clean_text(item.tgt, cleaning)
            origin = f"{item.origin}:{item.line}"
            problem = check_pair(src, tgt, cleaning)
            split = inp.split or (item.split and SPLIT_ALIASES.get(item.split, item.split))
            if problem is None and cleaning.enabled and cleaning.dedupe:
                first = deduper.first(split, src, tgt, origin)
                if first is not None:
                    problem = ("duplicate", f"same pair as {first}")
            if problem is not None:
                raw = escape_raw(f"{item.src}\t{item.tgt}")
                tables.rejects.append(Reject(item.origin, item.line, *problem, raw))
                continue
            tables.pairs.setdefault(split, []).append((src, tgt, origin, item.alignment))
    return tables


def _write(out_dir: Path, tables: _Tables) -> dict[str, str]:
    splits = sorted(tables.pairs, key=_split_order)
    columns: dict[str, list] = {name: [] for name in PAIRS.names}
    gold: dict[str, str] = {}
    for split in splits:
        rows = tables.pairs[split]
        start = len(columns["id"])
        columns["id"].extend(range(start, start + len(rows)))
        columns["split"].extend([split] * len(rows))
        for src, tgt, origin, _ in rows:
            columns["src"].append(src)
            columns["tgt"].append(tgt)
            columns["origin"].append(origin)
        if rows and all(alignment is not None for *_, alignment in rows):
            gold[split] = f"gold/{split}.talp"
            write_text(out_dir / gold[split], "".join(f"{row[3]}\n" for row in rows))
    write_parquet(out_dir / "pairs.parquet", pa.table(columns, schema=PAIRS))
    rejects = {
        "origin": [r.origin for r in tables.rejects],
        "line": [r.line for r in tables.rejects],
        "reason": [r.reason for r in tables.rejects],
        "detail": [r.detail for r in tables.rejects],
        "raw": [r.raw for r in tables.rejects],
    }
    write_parquet(out_dir / "rejects.parquet", pa.table(rejects, schema=REJECTS))
    return gold


def run_acquire(cfg: AcquireConfig, out_dir: Path) -> dict:
    """Fetch, read and clean the configured corpus into `out_dir`; return the stage summary."""
    out_dir = Path(out_dir)
    fetcher = _Fetcher(cfg.cache_dir or default_cache_dir(), cfg.download)
    plan = _plan(cfg, fetcher)
    fingerprint = _fingerprint(cfg, plan)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = read_json(manifest_path)
        outputs = [manifest.get("outputs", {}).get(k) for k in ("pairs", "rejects")]
        outputs += list(manifest.get("outputs", {}).get("gold", {}).values())
        if manifest.get("fingerprint") == fingerprint and all(
            o and (out_dir / o).is_file() for o in outputs
        ):
            log.info("acquire: %s is up to date (fingerprint %s)", out_dir, fingerprint[:12])
            return {**manifest, "cached": True, "out_dir": str(out_dir)}

    tables = _collect(plan, cfg.cleaning)
    shutil.rmtree(out_dir / "gold", ignore_errors=True)  # gold files of an earlier corpus
    gold = _write(out_dir, tables)
    counts = {s: len(tables.pairs[s]) for s in sorted(tables.pairs, key=_split_order)}
    reasons = Counter(r.reason for r in tables.rejects)
    manifest = {
        "fingerprint": fingerprint,
        "schema_version": SCHEMA_VERSION,
        "corpus": plan.corpus,
        "src_lang": plan.src_lang,
        "tgt_lang": plan.tgt_lang,
        "source": cfg.source.model_dump(mode="json"),
        "cleaning": cfg.cleaning.model_dump(mode="json"),
        "files": plan.files,
        "skipped": plan.skipped,
        "counts": counts,
        "pairs_total": sum(counts.values()),
        "rejects": dict(sorted(reasons.items())),
        "rejects_total": len(tables.rejects),
        "outputs": {"pairs": "pairs.parquet", "rejects": "rejects.parquet", "gold": gold},
    }
    write_json(manifest_path, manifest)
    log.info(
        "acquire: %d pairs %s, %d rejects %s -> %s",
        manifest["pairs_total"], counts, manifest["rejects_total"], manifest["rejects"], out_dir,
    )
    return {**manifest, "cached": False, "out_dir": str(out_dir)}

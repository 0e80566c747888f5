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

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm import tqdm

from nmt.core.atomic import atomic_path, read_json, remove_temporaries, write_json
from nmt.core.cluster import run_chunks
from nmt.core.lock import locks_folder
from nmt.core.row_groups import RowGroupWriter
from nmt.core.schema import PAIRS, REJECTS, SCHEMA_VERSION
from nmt.data import catalogue
from nmt.data.archives import extract, find_member, is_archive
from nmt.data.cleaning import CleaningConfig
from nmt.data.digests import DigestMap
from nmt.data.download import DownloadConfig, Fetched, MissingFile, fetch, is_url, location_name
from nmt.data.partitions import SPLIT_ALIASES, Cleaned, chunks, clean_chunk, dedupe_key, pair_reject
from nmt.data.readers import Item, RawPair, Reject, read_jsonl, read_paired, read_parquet, read_tmx, read_tsv
from nmt.data.splitting import SPLITS, SplitConfig, assign_splits, sentence_key

log = logging.getLogger(__name__)

_MAIN_SPLITS = ("train", "valid", "test")
_CODE_FILES = (
    "acquire.py",
    "archives.py",
    "catalogue.py",
    "cleaning.py",
    "digests.py",
    "partitions.py",
    "readers.py",
    "splitting.py",
)
_FORMATS = {
    ".tsv": "tsv",
    ".txt": "tsv",
    ".tmx": "tmx",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


class GeneratedSource(BaseModel):
    """The generated corpus of nmt.data.synthetic, with gold alignments."""

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
    set by name) becomes `test`; other splits keep their names. A base URL needs `splits` and
    is read as `<location>/<split>.<lang>.gz`.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["directory"] = "directory"
    location: str
    src_lang: str
    tgt_lang: str
    splits: list[str] | None = Field(None, description="file stems; None: all found (folders only)")
    main_test: str | None = None


class TableSource(BaseModel):
    """One file of pairs: TSV, TMX, JSONL or Parquet; plain, .gz, or inside a .zip/.tar(.gz).

    Fields: TSV columns by 0-based index, or by name from a header line; JSONL keys; Parquet
    columns; TMX languages (default: `src_lang`/`tgt_lang`). Without `split_field` the pairs get
    a seeded split (AcquireConfig.split).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["table"] = "table"
    location: str
    sha256: str | None = None
    format: Literal["auto", "tsv", "tmx", "jsonl", "parquet"] = "auto"
    member: str | None = Field(None, description="glob of the file inside an archive")
    src_field: str | int | None = Field(None, description="default: 0 (TSV), 'src' (JSONL/Parquet)")
    tgt_field: str | int | None = Field(None, description="default: 1 (TSV), 'tgt' (JSONL/Parquet)")
    split_field: str | int | None = None
    src_lang: str | None = None
    tgt_lang: str | None = None


class CatalogueSource(BaseModel):
    """A corpus of nmt.data.catalogue (multi30k, tatoeba, wmt14, europarl), from its URLs or the mirror."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["catalogue"] = "catalogue"
    corpus: Literal["multi30k", "tatoeba", "wmt14", "europarl"]
    src_lang: str
    tgt_lang: str
    extra_test_sets: bool = Field(True, description="multi30k: also the 2017/2018 test sets")


Source = Annotated[
    GeneratedSource | FilesSource | DirectorySource | TableSource | CatalogueSource,
    Field(discriminator="kind"),
]


class AcquireConfig(BaseModel):
    """Everything the acquire stage needs: the source, cleaning, downloads, cache and mirror."""

    model_config = ConfigDict(extra="forbid")

    source: Source = Field(default_factory=GeneratedSource)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    split: SplitConfig = Field(default_factory=SplitConfig, description="for corpora without splits")
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    cache_dir: Path | None = Field(None, description="downloads; None: $NMT_CACHE or ~/.cache/nmt")
    mirror: str | None = Field(
        None, description="folder or base URL laid out <corpus>/<file>; None: $NMT_MIRROR"
    )


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


def _paired_input(fetcher: _Fetcher, split: str, pair: FilePair) -> _Input:
    src = fetcher(pair.src, pair.src_sha256, split=split, side="src")
    tgt = fetcher(pair.tgt, pair.tgt_sha256, split=split, side="tgt")
    src_name, tgt_name = location_name(pair.src), location_name(pair.tgt)
    limit = fetcher.cfg.max_extract_bytes
    return _Input(src_name, split, lambda: read_paired(src.path, tgt.path, src_name, tgt_name, limit))


def _plan_generated(source: GeneratedSource) -> _Plan:
    from nmt.data import synthetic

    module = Path(synthetic.__file__)
    plan = _Plan("generated", synthetic.SRC_LANG, synthetic.TGT_LANG)
    plan.files.append(
        {
            "location": "nmt/data/synthetic.py",
            "name": module.name,
            "sha256": hashlib.sha256(module.read_bytes()).hexdigest(),
        }
    )

    def items() -> Iterator[Item]:
        for split, pairs in synthetic.generate_splits(source.seed, source.sizes).items():
            for number, pair in enumerate(pairs, start=1):
                origin = f"generated.{split}"
                yield RawPair(origin, number, pair.src, pair.tgt, split, pair.alignment)

    plan.inputs.append(_Input("generated", None, items))
    return plan


def _plan_files(source: FilesSource, fetcher: _Fetcher) -> _Plan:
    plan = _Plan("files", source.src_lang, source.tgt_lang)
    for split, pair in source.splits.items():
        plan.inputs.append(_paired_input(fetcher, SPLIT_ALIASES.get(split, split), pair))
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


def _plan_directory(source: DirectorySource, fetcher: _Fetcher) -> _Plan:
    plan = _Plan("directory", source.src_lang, source.tgt_lang)
    stems = _find_stems(source)
    main_test = _main_test(stems, source.main_test)
    for stem in stems:
        if is_url(source.location):
            base = source.location.rstrip("/")
            pair = FilePair(
                src=f"{base}/{stem}.{source.src_lang}.gz", tgt=f"{base}/{stem}.{source.tgt_lang}.gz"
            )
        else:
            src, tgt = (_dir_file(source, stem, lang) for lang in (source.src_lang, source.tgt_lang))
            if src is None or tgt is None:
                raise FileNotFoundError(
                    f"{source.location}: split {stem!r} lacks {stem}.{source.src_lang}[.gz] "
                    f"or {stem}.{source.tgt_lang}[.gz]"
                )
            pair = FilePair(src=src, tgt=tgt)
        plan.inputs.append(_paired_input(fetcher, split_name(stem, main_test), pair))
    return plan


def _table_format(source: TableSource, name: str) -> str:
    if source.format != "auto":
        return source.format
    suffix = Path(name.removesuffix(".gz")).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"{name}: cannot tell the format from the name; set `format`")
    return _FORMATS[suffix]


def _table_input(source: TableSource, fetcher: _Fetcher) -> _Input:
    fetched = fetcher(source.location, source.sha256, side="table")
    path, name = fetched.path, location_name(source.location)
    limit = fetcher.cfg.max_extract_bytes
    if is_archive(name):
        root = extract(path, fetcher.cache_dir / "extracted" / fetched.sha256[:16], limit)
        path = find_member(root, source.member, name)
        name = f"{name}/{path.relative_to(root).as_posix()}"
    fmt = _table_format(source, name)
    split = source.split_field
    if fmt == "tsv":
        src, tgt = source.src_field or 0, 1 if source.tgt_field is None else source.tgt_field
        return _Input(name, None, lambda: read_tsv(path, name, src, tgt, split, limit))
    if fmt == "tmx":
        src_lang, tgt_lang = source.src_field or source.src_lang, source.tgt_field or source.tgt_lang
        if not isinstance(src_lang, str) or not isinstance(tgt_lang, str):
            raise ValueError(f"{name}: TMX needs src_lang and tgt_lang (or src_field/tgt_field)")
        return _Input(name, None, lambda: read_tmx(path, name, src_lang, tgt_lang))
    src, tgt = str(source.src_field or "src"), str(source.tgt_field or "tgt")
    split = None if split is None else str(split)
    if fmt == "jsonl":
        return _Input(name, None, lambda: read_jsonl(path, name, src, tgt, split, limit))
    return _Input(name, None, lambda: read_parquet(path, name, src, tgt, split))


def _plan_table(source: TableSource, fetcher: _Fetcher) -> _Plan:
    plan = _Plan("table", source.src_lang, source.tgt_lang)
    plan.inputs.append(_table_input(source, fetcher))
    return plan


def _archive_inputs(
    parts: list[catalogue.ArchivePair], fetcher: _Fetcher, mirror: str | None
) -> list[_Input]:
    """Fetch each archive once (checked against its published or first-seen digest) and read its members."""
    digests_path = fetcher.cache_dir / "sha256.json"
    digests = read_json(digests_path) if digests_path.is_file() else {}
    roots: dict[str, tuple[Path, str]] = {}
    inputs = []
    for part in parts:
        archive = part.archive
        key = f"{archive.corpus}/{archive.name}"
        if key not in roots:
            fetched = fetcher(archive.location(mirror), archive.sha256 or digests.get(key), side="archive")
            if archive.sha256 is None and key not in digests:
                digests[key] = fetched.sha256
                write_json(digests_path, digests)
            dest = fetcher.cache_dir / "extracted" / fetched.sha256[:16]
            roots[key] = (extract(fetched.path, dest, fetcher.cfg.max_extract_bytes), archive.name)
        root, name = roots[key]
        src, tgt = (find_member(root, member, name) for member in (part.src_member, part.tgt_member))
        src_name, tgt_name = f"{name}/{part.src_member}", f"{name}/{part.tgt_member}"
        limit = fetcher.cfg.max_extract_bytes
        items = functools.partial(read_paired, src, tgt, src_name, tgt_name, limit, part.sgml)
        inputs.append(_Input(src_name, part.split, items))
    return inputs


def _plan_catalogue(source: CatalogueSource, fetcher: _Fetcher, mirror: str | None) -> _Plan:
    plan = _Plan(source.corpus, source.src_lang, source.tgt_lang)
    if source.corpus in ("wmt14", "europarl"):
        parts = getattr(catalogue, source.corpus)(source.src_lang, source.tgt_lang)
        plan.inputs.extend(_archive_inputs(parts, fetcher, mirror))
        return plan
    if source.corpus == "tatoeba":
        entry = catalogue.tatoeba(source.src_lang, source.tgt_lang)
        table = TableSource(
            location=entry.file.location(mirror),
            sha256=entry.file.sha256,
            format="tsv",
            member=entry.member,
            src_field=entry.src_column,
            tgt_field=entry.tgt_column,
        )
        plan.inputs.append(_table_input(table, fetcher))
        return plan
    for split in catalogue.multi30k(source.src_lang, source.tgt_lang, source.extra_test_sets):
        pair = FilePair(
            src=split.src.location(mirror),
            tgt=split.tgt.location(mirror),
            src_sha256=split.src.sha256,
            tgt_sha256=split.tgt.sha256,
        )
        try:
            plan.inputs.append(_paired_input(fetcher, split.split, pair))
        except MissingFile as exc:
            if not split.optional:
                raise
            log.warning("%s: optional test set %s skipped: %s", source.corpus, split.split, exc)
            plan.skipped.append({"split": split.split, "reason": str(exc)})
    return plan


def _plan(cfg: AcquireConfig, fetcher: _Fetcher, mirror: str | None) -> _Plan:
    source = cfg.source
    if isinstance(source, GeneratedSource):
        plan = _plan_generated(source)
    elif isinstance(source, FilesSource):
        plan = _plan_files(source, fetcher)
    elif isinstance(source, DirectorySource):
        plan = _plan_directory(source, fetcher)
    elif isinstance(source, TableSource):
        plan = _plan_table(source, fetcher)
    else:
        plan = _plan_catalogue(source, fetcher, mirror)
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
        "split": cfg.split.model_dump(mode="json"),
        "files": sorted(f["sha256"] for f in plan.files),
        "skipped": sorted(s["split"] for s in plan.skipped),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


# Scratch tables: kept pairs per split, and pairs waiting for the seeded split.
_SPILL = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("tgt", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("alignment", pa.string()),
    ]
)
_PENDING = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("tgt", pa.string(), nullable=False),
        pa.field("raw_src", pa.string()),  # the text as read, where cleaning changed it
        pa.field("raw_tgt", pa.string()),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("alignment", pa.string()),
    ]
)
_SCRATCH = {"rows": 1 << 15, "compression": "none", "use_dictionary": False}
_BATCH = 1 << 14  # pairs deduplicated (and their rejects written) together
SCRATCH_PREFIX = ".acquire-"  # the scratch folder of a run, inside its out_dir
_LINE_BITS = 40  # a first occurrence is stored as (origin name index << 40) | line


def _columns(schema: pa.Schema, rows: list[tuple]) -> pa.Table:
    return pa.table([list(c) for c in zip(*rows, strict=True)] if rows else [[]] * len(schema), schema=schema)


class _Collector:
    """Cleaned pairs in reading order: deduplicated by digest, spilled per split, rejects streamed.

    Memory holds one batch of pairs, 16 bytes per distinct kept pair (the deduplication digests
    and where each pair was first seen) and 16 bytes per pair awaiting the seeded split; the
    text goes to scratch Parquet files under `scratch` as it comes.
    """

    def __init__(self, scratch: Path, rejects: RowGroupWriter, cleaning: CleaningConfig) -> None:
        self.scratch, self.rejects_out, self.cleaning = scratch, rejects, cleaning
        self.dedupe = cleaning.enabled and cleaning.dedupe
        self.seen = DigestMap()
        self.names: dict[str, int] = {}
        self.last_name, self.last_index = "", 0  # the name of the last _code, and its index
        self.events: list[Reject | tuple[str, str, str, RawPair]] = []  # a batch, in reading order
        self.keys: list[int] = []  # the deduplication digest of each pair in `events`
        self.reject_rows: list[tuple] = []
        self.spills: dict[str, RowGroupWriter] = {}
        self.counts: Counter[str] = Counter()
        self.unaligned: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.pending: RowGroupWriter | None = None
        self.pending_rows: list[tuple] = []
        self.pending_keys: tuple[array, array] = (array("Q"), array("Q"))

    def add(self, cleaned: Cleaned) -> None:
        """Take one cleaned chunk's rejects and pairs, in reading order."""
        keys = iter(cleaned.keys)
        for event in cleaned.events:
            if isinstance(event, Reject):
                self.events.append(event)
            elif event[0] is None:
                self.hold(event[1], event[2], event[3])
            else:
                self.events.append(event)
                if self.dedupe:
                    self.keys.append(next(keys))
            if len(self.events) >= _BATCH:
                self.flush()

    def keep(self, split: str, src: str, tgt: str, item: RawPair) -> None:
        """Record a cleaned pair of a known split (dropped later if it repeats an earlier one)."""
        self.events.append((split, src, tgt, item))
        if self.dedupe:
            self.keys.append(dedupe_key(split, src, tgt))
        if len(self.events) >= _BATCH:
            self.flush()

    def hold(self, src: str, tgt: str, item: RawPair) -> None:
        """Set aside a cleaned pair that needs the seeded split."""
        if self.pending is None:
            self.pending = RowGroupWriter(self.scratch / "pending.parquet", _PENDING, **_SCRATCH).__enter__()
        raw_src, raw_tgt = (None if a == b else a for a, b in ((item.src, src), (item.tgt, tgt)))
        self.pending_rows.append((src, tgt, raw_src, raw_tgt, item.origin, item.line, item.alignment))
        self.pending_keys[0].append(sentence_key(src))
        self.pending_keys[1].append(sentence_key(tgt))
        if len(self.pending_rows) >= _BATCH:
            self.pending.add(_columns(_PENDING, self.pending_rows))
            self.pending_rows = []

    def release(self, split_cfg: SplitConfig) -> None:
        """Split the pairs set aside, then keep them in reading order."""
        if self.pending is None:
            return
        self.pending.add(_columns(_PENDING, self.pending_rows))
        self.pending.__exit__(None, None, None)
        keys = [np.frombuffer(k, dtype=np.uint64) for k in self.pending_keys]
        codes = assign_splits(keys[0], keys[1], split_cfg)
        del keys, self.pending_keys
        done = 0
        pending = pq.ParquetFile(self.pending.path)
        for group in range(pending.num_row_groups):  # one at a time: iter_batches reads ahead
            batch = pending.read_row_group(group)
            columns = [batch.column(name).to_pylist() for name in _PENDING.names]
            rows = zip(*columns, strict=True)
            for code, (src, tgt, raw_src, raw_tgt, origin, line, alignment) in zip(
                codes[done : done + batch.num_rows], rows, strict=True
            ):
                item = RawPair(origin, line, raw_src or src, raw_tgt or tgt, None, alignment)
                self.keep(SPLITS[code], src, tgt, item)
            done += batch.num_rows
        self.pending.path.unlink()

    def flush(self) -> None:
        """Deduplicate the batch against everything kept so far; write its pairs and rejects."""
        keys, self.keys = self.keys, []
        found, earlier = (a.tolist() for a in self.seen.lookup(np.array(keys, dtype=np.uint64)))
        new: dict[int, int] = {}
        columns: dict[str, tuple[list, list, list, list]] = {}
        k = 0
        for event in self.events:
            if isinstance(event, Reject):
                self._write_reject(event)
                continue
            split, src, tgt, item = event
            if self.dedupe:
                key = keys[k]
                first = earlier[k] if found[k] else new.get(key)
                k += 1
                if first is not None:
                    problem = ("duplicate", f"same pair as {self._origin(first)}")
                    self._write_reject(pair_reject(item, problem))
                    continue
                new[key] = self._code(item)
            if split not in columns:
                columns[split] = ([], [], [], [])
            out = columns[split]
            out[0].append(src)
            out[1].append(tgt)
            out[2].append(f"{item.origin}:{item.line}")
            out[3].append(item.alignment)
        if new:
            codes = np.fromiter(new.values(), np.uint64, len(new))
            self.seen.add(np.fromiter(new, np.uint64, len(new)), codes)
        self.events = []
        for split, out in columns.items():
            self.counts[split] += len(out[0])
            self.unaligned[split] += out[3].count(None)
            self._spill(split).add(pa.table(list(out), schema=_SPILL))
        self._flush_rejects(final=False)

    def _write_reject(self, item: Reject) -> None:
        self.reject_rows.append((item.origin, item.line, item.reason, item.detail, item.raw))
        self.reasons[item.reason] += 1

    def _flush_rejects(self, final: bool) -> None:
        if self.reject_rows and (final or len(self.reject_rows) >= _BATCH):
            self.rejects_out.add(_columns(REJECTS, self.reject_rows))
            self.reject_rows = []

    def _code(self, item: RawPair) -> int:
        if item.origin != self.last_name:
            self.last_name, self.last_index = item.origin, self.names.setdefault(item.origin, len(self.names))
        return self.last_index << _LINE_BITS | item.line

    def _origin(self, code: int) -> str:
        names = list(self.names)
        return f"{names[code >> _LINE_BITS]}:{code & ((1 << _LINE_BITS) - 1)}"

    def _spill(self, split: str) -> RowGroupWriter:
        if split not in self.spills:
            path = self.scratch / f"split-{len(self.spills)}.parquet"
            self.spills[split] = RowGroupWriter(path, _SPILL, **_SCRATCH).__enter__()
        return self.spills[split]

    def finish(self) -> None:
        """Write what is buffered and close the scratch files."""
        self.flush()
        self._flush_rejects(final=True)
        for spill in self.spills.values():
            spill.__exit__(None, None, None)


def _collect(cfg: AcquireConfig, plan: _Plan, collector: _Collector, cluster: str | None) -> None:
    """Clean the records chunk by chunk (here or on the Dask cluster); collect them in reading order."""
    inputs = (
        (tqdm(inp.items(), desc=inp.name, unit=" lines", disable=None, leave=False), inp.split)
        for inp in plan.inputs
    )
    for cleaned in run_chunks(clean_chunk, chunks(inputs), cluster, cfg.cleaning):
        collector.add(cleaned)
    collector.release(cfg.split)
    collector.finish()


def _write_pairs(out_dir: Path, collector: _Collector) -> dict[str, str]:
    """Concatenate the split files in split order into pairs.parquet; write the gold alignments."""
    gold: dict[str, str] = {}
    start = 0
    with RowGroupWriter(out_dir / "pairs.parquet", PAIRS) as pairs:
        for split in sorted(collector.spills, key=_split_order):
            path = collector.spills[split].path
            with contextlib.ExitStack() as stack:
                talp = None
                if not collector.unaligned[split]:
                    gold[split] = f"gold/{split}.talp"
                    (out_dir / "gold").mkdir(parents=True, exist_ok=True)
                    talp = stack.enter_context(atomic_path(out_dir / gold[split])).open("w", encoding="utf-8")
                    stack.callback(talp.close)
                spill = pq.ParquetFile(path)
                for group in range(spill.num_row_groups):  # one at a time: iter_batches reads ahead
                    batch = spill.read_row_group(group)
                    n = batch.num_rows
                    ids = pa.array(np.arange(start, start + n, dtype=np.int64))
                    names = pa.array([split] * n, pa.string())
                    columns = [ids, names, batch.column("src"), batch.column("tgt"), batch.column("origin")]
                    pairs.add(pa.Table.from_arrays(columns, schema=PAIRS))
                    if talp is not None:
                        talp.writelines(f"{a}\n" for a in batch.column("alignment").to_pylist())
                    start += n
            path.unlink()
    return gold


@locks_folder("acquire", wait=True)
def run_acquire(cfg: AcquireConfig, out_dir: Path, cluster: str | None = None) -> dict:
    """Fetch, read and clean the configured corpus into `out_dir`; return the stage summary.

    Given `cluster` (a Dask scheduler address), the records are cleaned in chunks on its
    workers; the output is the same bytes as a local run's.
    """
    out_dir = Path(out_dir)
    fetcher = _Fetcher(cfg.cache_dir or default_cache_dir(), cfg.download)
    mirror = cfg.mirror or os.environ.get("NMT_MIRROR") or None
    plan = _plan(cfg, fetcher, mirror)
    fingerprint = _fingerprint(cfg, plan)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = read_json(manifest_path)
        outputs = [manifest.get("outputs", {}).get(k) for k in ("pairs", "rejects")]
        outputs += list(manifest.get("outputs", {}).get("gold", {}).values())
        if manifest.get("fingerprint") == fingerprint and all(o and (out_dir / o).is_file() for o in outputs):
            log.info("acquire: %s is up to date (fingerprint %s)", out_dir, fingerprint[:12])
            return {**manifest, "cached": True, "out_dir": str(out_dir)}

    shutil.rmtree(out_dir / "gold", ignore_errors=True)  # gold files of an earlier corpus
    out_dir.mkdir(parents=True, exist_ok=True)
    # What a killed run left: this process holds the folder now (locks_folder).
    for scratch in out_dir.glob(f"{SCRATCH_PREFIX}*"):
        shutil.rmtree(scratch, ignore_errors=True)
    remove_temporaries(out_dir)
    with (
        tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=out_dir) as scratch,
        RowGroupWriter(out_dir / "rejects.parquet", REJECTS) as rejects,
    ):
        collector = _Collector(Path(scratch), rejects, cfg.cleaning)
        _collect(cfg, plan, collector, cluster)
        gold = _write_pairs(out_dir, collector)
    counts = {s: collector.counts[s] for s in sorted(collector.spills, key=_split_order)}
    reasons = collector.reasons
    manifest = {
        "fingerprint": fingerprint,
        "schema_version": SCHEMA_VERSION,
        "corpus": plan.corpus,
        "src_lang": plan.src_lang,
        "tgt_lang": plan.tgt_lang,
        "source": cfg.source.model_dump(mode="json"),
        "mirror": mirror,
        "cleaning": cfg.cleaning.model_dump(mode="json"),
        "split": cfg.split.model_dump(mode="json"),
        "files": plan.files,
        "skipped": plan.skipped,
        "counts": counts,
        "pairs_total": sum(counts.values()),
        "rejects": dict(sorted(reasons.items())),
        "rejects_total": sum(reasons.values()),
        "outputs": {"pairs": "pairs.parquet", "rejects": "rejects.parquet", "gold": gold},
    }
    write_json(manifest_path, manifest)
    log.info(
        "acquire: %d pairs %s, %d rejects %s -> %s",
        manifest["pairs_total"],
        counts,
        manifest["rejects_total"],
        manifest["rejects"],
        out_dir,
    )
    return {**manifest, "cached": False, "out_dir": str(out_dir)}

"""The align stage: the statistical aligner's links of a run's training pairs, and its priors.

<run>/align/links.parquet   ALIGN_LINKS: forward, reverse and symmetrised links of every pair
<run>/align/priors.txt      eflomal priors, for aligning new pairs later (nmt.align.given)
<run>/align/summary.json    the stage's summary

The pairs are read from <run>/acquire/pairs.parquet a record batch at a time: their words
(nmt.align.words) go to aligner input files, eflomal aligns them, and the links are joined back
to the pair ids batch by batch, so memory holds one batch plus what eflomal itself keeps.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from nmt.align.aer import parse_pharaoh
from nmt.align.links import pharaoh
from nmt.align.statistical import StatisticalConfig, align_files, load_eflomal, write_priors
from nmt.align.symmetrize import symmetrize
from nmt.align.words import aligner_line, words
from nmt.core.atomic import atomic_path, write_json
from nmt.core.rundir import RunDir
from nmt.core.schema import ALIGN_LINKS

log = logging.getLogger(__name__)

BATCH_ROWS = 16_384
# Symmetrised columns of ALIGN_LINKS and the heuristic of each.
SYMMETRISED = {
    "intersection": "intersection",
    "grow_diag": "grow-diag",
    "grow_diag_final_and": "grow-diag-final-and",
}


class AlignCorpusConfig(BaseModel):
    """Which pairs the align stage reads, and the aligner's settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        None, description="pipeline: run the stage (True: eflomal required); None: when eflomal is installed"
    )
    split: str = Field("train", description="split of the pairs table to align")
    aligner: StatisticalConfig = Field(default_factory=StatisticalConfig)


def align_dir(run_dir: Path) -> Path:
    """The align stage's folder of a run."""
    return RunDir(run_dir).align


def split_batches(pairs: Path, split: str) -> Iterator[pa.RecordBatch]:
    """Record batches (id, src, tgt) of one split of a pairs table, in file order."""
    for batch in pq.ParquetFile(pairs).iter_batches(BATCH_ROWS, columns=["id", "split", "src", "tgt"]):
        chosen = batch.filter(pc.equal(batch.column("split"), split))
        if chosen.num_rows:
            yield chosen.select(["id", "src", "tgt"])


def write_aligner_input(pairs: Path, split: str, src_out: Path, tgt_out: Path) -> int:
    """Write the lowercased words of a split's pairs, a line per pair, to two files; return the count."""
    count = 0
    with open(src_out, "w", encoding="utf-8") as src, open(tgt_out, "w", encoding="utf-8") as tgt:
        for batch in split_batches(pairs, split):
            src.writelines(aligner_line(words(s)) + "\n" for s in batch.column("src").to_pylist())
            tgt.writelines(aligner_line(words(t)) + "\n" for t in batch.column("tgt").to_pylist())
            count += batch.num_rows
    return count


def links_row(forward_line: str, reverse_line: str, where: str) -> dict[str, str]:
    """Pharaoh text of both directions' links of one pair and of each symmetrisation."""
    forward = parse_pharaoh(forward_line, f"{where} (forward)")
    reverse = parse_pharaoh(reverse_line, f"{where} (reverse)")
    row = {"forward": pharaoh(forward), "reverse": pharaoh(reverse)}
    row.update({column: pharaoh(symmetrize(forward, reverse, m)) for column, m in SYMMETRISED.items()})
    return row


def write_links(pairs: Path, split: str, forward: Path, reverse: Path, out: Path) -> dict[str, int]:
    """Join the links files to the split's pair ids into ALIGN_LINKS at `out`; return link counts."""
    columns = ["forward", "reverse", *SYMMETRISED]
    counts = dict.fromkeys(columns, 0)
    with (
        open(forward, encoding="utf-8") as fwd,
        open(reverse, encoding="utf-8") as rev,
        atomic_path(out) as tmp,
        pq.ParquetWriter(tmp, ALIGN_LINKS, compression="zstd") as writer,
    ):
        line = 0
        for batch in split_batches(pairs, split):
            rows = []
            sides = zip(batch.column("src").to_pylist(), batch.column("tgt").to_pylist(), strict=True)
            for src, tgt in sides:
                line += 1
                row = links_row(fwd.readline(), rev.readline(), f"{forward.name}, line {line}")
                rows.append({"src_words": len(words(src)), "tgt_words": len(words(tgt)), **row})
            for column in columns:
                counts[column] += sum(r[column].count("-") for r in rows)
            data = {"id": batch.column("id").to_pylist()}
            data.update({name: [r[name] for r in rows] for name in ALIGN_LINKS.names[1:]})
            writer.write_table(pa.table(data, schema=ALIGN_LINKS))
    return counts


def run_align_corpus(
    run_dir: Path, cfg: AlignCorpusConfig | None = None, out_dir: Path | None = None
) -> dict:
    """Align a run's pairs of one split both ways into links.parquet and priors.txt (default <run>/align)."""
    cfg = cfg or AlignCorpusConfig()
    out_dir = Path(out_dir) if out_dir is not None else align_dir(run_dir)
    pairs = RunDir(run_dir).acquire / "pairs.parquet"
    if not pairs.exists():
        raise FileNotFoundError(f"{pairs} does not exist: run the acquire stage first")
    load_eflomal()
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".align-", dir=out_dir) as work:
        src, tgt, fwd, rev = (Path(work) / name for name in ("src.txt", "tgt.txt", "forward", "reverse"))
        count = write_aligner_input(pairs, cfg.split, src, tgt)
        if not count:
            raise ValueError(f"{pairs} has no pairs in split {cfg.split!r}")
        aligning = time.perf_counter()
        align_files(src, tgt, fwd, rev, cfg.aligner)
        align_seconds = time.perf_counter() - aligning
        links = write_links(pairs, cfg.split, fwd, rev, out_dir / "links.parquet")
        write_priors(src, tgt, fwd, rev, out_dir / "priors.txt")
    summary = {
        "pairs": count,
        "split": cfg.split,
        "links": links,
        "aligner": f"eflomal {version('eflomal')}",
        "config": cfg.model_dump(),
        "links_table": str(out_dir / "links.parquet"),
        "priors": str(out_dir / "priors.txt"),
        "align_seconds": round(align_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(out_dir / "summary.json", summary)
    log.info("align: %d %s pairs in %.1f s -> %s", count, cfg.split, summary["seconds"], out_dir)
    return summary

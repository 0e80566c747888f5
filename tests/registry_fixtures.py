"""A registrable run directory (tiny random model, pairs table, report) and registries holding one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from translate_fixtures import make_run_dir, sentences

from nmt import report
from nmt.core.atomic import write_parquet
from nmt.ops.registry import Registry

PAIR = "en-xx"


def make_registrable_run(root: Path, valid: int = 20) -> Path:
    """A run directory with the tiny model, a pairs table (valid split) and an acquire summary."""
    make_run_dir(root)
    src = sentences(valid, seed=7)
    table = pa.table(
        {
            "id": pa.array(range(valid), pa.int64()),
            "split": ["valid"] * valid,
            "src": src,
            "tgt": [s.lower() for s in src],
            "origin": [f"generated:{i + 1}" for i in range(valid)],
        }
    )
    write_parquet(root / "acquire" / "pairs.parquet", table)
    report.record(
        root,
        "acquire",
        {"corpus": "generated", "src_lang": "en", "tgt_lang": "xx", "counts": {"valid": valid}},
    )
    return root


def registry_with_current(root: Path, run: Path) -> Registry:
    """A registry at `root` whose current en-xx model is `run`'s."""
    registry = Registry.open(root)
    registry.promote(registry.register(run)["model_id"], "test")
    return registry

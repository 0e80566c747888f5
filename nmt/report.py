"""The run report: every stage's summary and the test scores in `<run>/report.json`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from nmt import __version__
from nmt.atomic import read_json, write_json
from nmt.rundir import RunDir

STAGES = ("acquire", "tokenize", "train", "evaluate", "translate")


def load(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Return the run's report, or an empty one if none was written yet."""
    path = RunDir(Path(run_dir)).report
    if path.exists():
        return read_json(path)
    return {"run_id": Path(run_dir).name, "nmt_version": __version__, "stages": {}}


def record(run_dir: str | os.PathLike, stage: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Merge one stage's summary into report.json (atomically) and return the new report."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    report = load(run_dir)
    report["stages"][stage] = {**summary, "finished_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    if stage == "evaluate":
        report["scores"] = summary.get("scores", {})
    write_json(RunDir(Path(run_dir)).report, report)
    return report

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
    return {"run_id": Path(run_dir).name, "run_dir": str(run_dir), "nmt_version": __version__, "stages": {}}


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


def _stage_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """One (stage, description) line per finished stage."""
    stages = report.get("stages", {})
    lines: list[tuple[str, str]] = []
    if a := stages.get("acquire"):
        counts = ", ".join(f"{k} {v:,}" for k, v in a.get("counts", {}).items())
        lines.append((
            "acquire",
            f"{a.get('pairs_total', 0):,} pairs {a.get('src_lang')}->{a.get('tgt_lang')} ({counts}); "
            f"{a.get('rejects_total', 0):,} rejects {a.get('rejects', {})}",
        ))
    if t := stages.get("tokenize"):
        vocab = t.get("src_vocab_size")
        kind = "joint" if t.get("joint") else f"{vocab}/{t.get('tgt_vocab_size')}"
        rows = ", ".join(f"{k} {v:,}" for k, v in t.get("rows", {}).items())
        text = f"sentencepiece {t.get('model_type')} vocab {vocab:,} ({kind}); rows {rows}"
        lines.append(("tokenize", text))
    if tr := stages.get("train"):
        bleu = tr.get("best_valid_bleu")
        bleu_text = "n/a" if bleu is None else f"{bleu:.2f}"
        minutes = tr.get("seconds", 0) / 60
        lines.append((
            "train",
            f"{tr.get('steps', 0):,} steps, {tr.get('epochs', 0)} epochs in {minutes:.1f} min "
            f"({tr.get('tokens_per_s', 0):,.0f} target tokens/s on {tr.get('device')}), "
            f"{tr.get('params', 0):,} params; best valid BLEU {bleu_text} at step "
            f"{tr.get('best_step')}; stopped: {tr.get('stopped')}",
        ))
    if e := stages.get("evaluate"):
        for split, s in e.get("scores", {}).items():
            lines.append((
                "evaluate",
                f"{split}: BLEU {s['bleu']:.2f}, chrF {s['chrf']:.2f} on {s['sentences']:,} sentences "
                f"(beam {e.get('beam')}; {s['bleu_signature']})",
            ))
    if x := stages.get("translate"):
        lines.append((
            "translate",
            f"{x.get('documents', 0)} documents, {x.get('sentences', 0):,} sentences, "
            f"{x.get('errors', 0)} errors -> {x.get('out_dir')}",
        ))
    return lines


def to_text(report: dict[str, Any]) -> str:
    """The console summary of a run: one line per stage."""
    run_dir = report["run_dir"]
    lines = [f"Run directory: {run_dir}"]
    lines += [f"  {stage:<10} {text}" for stage, text in _stage_lines(report)]
    lines.append(f"  {'report':<10} {RunDir(Path(run_dir)).report}")
    return "\n".join(lines)


def to_markdown(report: dict[str, Any]) -> str:
    """The run summary as markdown (a Prefect artifact)."""
    run_dir = report["run_dir"]
    rows = "\n".join(f"| {stage} | {text} |" for stage, text in _stage_lines(report))
    head = f"# Run `{Path(run_dir).name}`\n\n| stage | summary |\n|---|---|\n"
    return f"{head}{rows}\n\nReport: `{RunDir(Path(run_dir)).report}`\n"

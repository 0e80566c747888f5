"""One-line console summaries and markdown reports of pipeline runs, retrains and inbox batches."""

from __future__ import annotations

from typing import Any

from nmt.report import cell


def pipeline_line(report: dict[str, Any]) -> str:
    """One line: the run, its test scores, what it translated."""
    scores = ", ".join(
        f"{split} BLEU {s['bleu']:.2f} chrF {s['chrf']:.2f}" for split, s in report.get("scores", {}).items()
    )
    translated = report.get("stages", {}).get("translate", {})
    return (
        f"run {report['run_id']}: {scores or 'not evaluated'}; "
        f"{translated.get('documents', 0)} documents translated -> {report['run_dir']}"
    )


def _score(scores: dict[str, Any] | None, metric: str = "bleu") -> str:
    return "n/a" if scores is None else f"{scores[metric]:.2f}"


def retrain_line(decision: dict[str, Any]) -> str:
    """One line: the candidate, both dev scores, and whether it was promoted."""
    verdict = "promoted" if decision["promoted"] else "kept the current model"
    return (
        f"retrain {decision['pair']}: candidate {decision['candidate']} {decision['split']} BLEU "
        f"{_score(decision['candidate_scores'])} vs current {decision['current_before'] or 'none'} "
        f"{_score(decision['current_scores'])} -> {verdict} ({decision['reason']})"
    )


def retrain_markdown(decision: dict[str, Any]) -> str:
    """The promotion decision as markdown: both models' dev scores and the verdict."""
    rows = [
        ("candidate", decision["candidate"], decision["candidate_scores"]),
        ("current", decision["current_before"] or "none", decision["current_scores"]),
    ]
    table = "\n".join(
        f"| {role} | `{cell(model)}` | {_score(s)} | {_score(s, 'chrf')} |" for role, model, s in rows
    )
    verdict = "**promoted**" if decision["promoted"] else "**not promoted**"
    return (
        f"# Retrain {decision['pair']}\n\n"
        f"Scored on the candidate's `{decision['split']}` split with the same decoding.\n\n"
        f"| model | id | BLEU | chrF |\n|---|---|---|---|\n{table}\n\n"
        f"Candidate {verdict}: {decision['reason']}. Current model now: `{decision['current']}`.\n"
    )


def inbox_line(summary: dict[str, Any]) -> str:
    """One line: the inbox, how many files were done or failed, sentences, where outputs went."""
    return (
        f"inbox {summary['pair']} {summary['inbox']}: {len(summary['files'])} file(s), "
        f"{summary['done']} done, {summary['failed']} failed, {summary['sentences']} sentences "
        f"-> {summary['outbox']}; {summary['waiting']} waiting (batch {summary['batch']})"
    )


def inbox_markdown(summary: dict[str, Any]) -> str:
    """The inbox batch as markdown: one row per file with its status and output or reason."""
    rows = "\n".join(
        "| "
        + " | ".join(
            cell(x) for x in (f["name"], f["status"], f["sentences"], f.get("output") or f.get("reason"))
        )
        + " |"
        for f in summary["files"]
    )
    return (
        f"# Inbox batch `{summary['batch']}`\n\n"
        f"Pair {summary['pair']}, model `{summary['model_id']}`, inbox `{summary['inbox']}`, "
        f"outbox `{summary['outbox']}`; {summary['waiting']} file(s) still waiting.\n\n"
        f"| file | status | sentences | output or reason |\n|---|---|---|---|\n{rows}\n"
    )

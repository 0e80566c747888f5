"""The run report: every stage's summary and the test scores in `<run>/report.json`, and the same
as a human-readable `<run>/report.md` (corpus, tokenizer, training curve, scores per test set,
alignment scores, heatmaps, output paths), both rewritten after every stage."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from nmt import __version__
from nmt.core.atomic import read_json, write_json, write_text
from nmt.core.rundir import RunDir

STAGES = ("acquire", "tokenize", "align", "train", "evaluate", "translate")
METRIC_KEYS = (("BLEU", "bleu"), ("chrF", "chrf"), ("TER", "ter"))
EMBED_MAX_BYTES = 200_000  # a heatmap larger than this is linked, not embedded (they are 10-50 kB)
EMBED_TOTAL_BYTES = 1_000_000  # and so is every heatmap after the first million bytes embedded


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
    write_text(Path(run_dir) / "report.md", to_markdown(report))
    return report


def _stage_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """One (stage, description) line per finished stage."""
    stages = report.get("stages", {})
    lines: list[tuple[str, str]] = []
    if a := stages.get("acquire"):
        counts = ", ".join(f"{k} {v:,}" for k, v in a.get("counts", {}).items())
        lines.append(
            (
                "acquire",
                f"{a.get('pairs_total', 0):,} pairs {a.get('src_lang')}->{a.get('tgt_lang')} ({counts}); "
                f"{a.get('rejects_total', 0):,} rejects {a.get('rejects', {})}",
            )
        )
    if t := stages.get("tokenize"):
        vocab = t.get("src_vocab_size")
        kind = "joint" if t.get("joint") else f"{vocab}/{t.get('tgt_vocab_size')}"
        rows = ", ".join(f"{k} {v:,}" for k, v in t.get("rows", {}).items())
        text = f"sentencepiece {t.get('model_type')} vocab {vocab:,} ({kind}); rows {rows}"
        lines.append(("tokenize", text))
    if al := stages.get("align"):
        if "skipped" in al:
            lines.append(("align", f"skipped: {al['skipped']}"))
        else:
            links = al.get("links", {})
            lines.append(
                (
                    "align",
                    f"{al.get('aligner')}: {al.get('pairs', 0):,} {al.get('split')} pairs, "
                    f"{links.get('intersection', 0):,} intersection links, "
                    f"{links.get('grow_diag_final_and', 0):,} grow-diag-final-and "
                    f"in {al.get('seconds', 0):.0f} s",
                )
            )
    if tr := stages.get("train"):
        bleu = tr.get("best_valid_bleu")
        bleu_text = "n/a" if bleu is None else f"{bleu:.2f}"
        minutes = tr.get("seconds", 0) / 60
        lines.append(
            (
                "train",
                f"{tr.get('steps', 0):,} steps, {tr.get('epochs', 0)} epochs in {minutes:.1f} min "
                f"({tr.get('tokens_per_s', 0):,.0f} target tokens/s on {tr.get('device')}), "
                f"{tr.get('params', 0):,} params; best valid BLEU {bleu_text} at step "
                f"{tr.get('best_step')}; stopped: {tr.get('stopped')}; {_guidance_text(tr)}",
            )
        )
    if e := stages.get("evaluate"):
        for split, sc in e.get("scores", {}).items():
            lines.append(
                (
                    "evaluate",
                    f"{split}: "
                    + ", ".join(f"{name} {sc[key]:.2f}" for name, key in METRIC_KEYS if key in sc)
                    + f" on {sc.get('sentences', 0):,} sentences"
                    + f" ({sc.get('decoding')}; {sc.get('bleu_signature')})",
                )
            )
        for split, a in e.get("alignment", {}).items():
            stat, head = a.get("statistical"), a.get("head")
            stat_text = f", alignment head AER {head['aer']:.3f}" if head else ""
            stat_text += f", statistical aligner AER {stat['aer']:.3f}" if stat else ""
            lines.append(
                (
                    "evaluate",
                    f"{split} alignment: {a.get('attention', 'unguided')} attention AER {a['aer']:.3f}, "
                    f"precision {a['precision']:.3f}, recall {a['recall']:.3f} "
                    f"(diagonal AER {a['diagonal_aer']:.3f}{stat_text})",
                )
            )
    if x := stages.get("translate"):
        lines.append(
            (
                "translate",
                f"{x.get('documents', 0)} documents, {x.get('sentences', 0):,} sentences, "
                f"{x.get('errors', 0)} errors -> {x.get('out_dir')}",
            )
        )
    return lines


def _guidance_text(train: dict[str, Any]) -> str:
    """How the train stage used the statistical links."""
    g = train.get("guided_alignment") or {}
    if g.get("weight"):
        pairs = g.get("pairs", 0)
        return f"guided alignment weight {g['weight']:g} ({g.get('links')} links of {pairs:,} pairs)"
    return f"no guided alignment ({g.get('off', 'not recorded')})"


def to_text(report: dict[str, Any]) -> str:
    """The console summary of a run: one line per stage."""
    run_dir = report["run_dir"]
    lines = [f"Run directory: {run_dir}"]
    lines += [f"  {stage:<10} {text}" for stage, text in _stage_lines(report)]
    lines.append(f"  {'report':<10} {RunDir(Path(run_dir)).report}")
    return "\n".join(lines)


def to_markdown(report: dict[str, Any], embed_images: bool = False) -> str:
    """The run report as markdown: report.md (heatmaps linked relative to the run) and, with
    `embed_images`, the Prefect artifact (heatmaps inline as data URIs, up to EMBED_*_BYTES)."""
    root = Path(report["run_dir"])
    stages = report.get("stages", {})
    stage_rows = [list(line) for line in _stage_lines(report)]
    parts = [f"# Run `{root.name}`\n\n" + _table(["stage", "summary"], stage_rows)]
    if a := stages.get("acquire"):
        parts.append(_corpus(a))
    if t := stages.get("tokenize"):
        parts.append(_tokenizer(t))
    if tr := stages.get("train"):
        parts.append(_curve(root, tr))
    if e := stages.get("evaluate"):
        parts.append(_scores(e))
        if e.get("alignment"):
            parts.append(_alignment(e["alignment"]))
        if e.get("heatmaps"):
            parts.append(_heatmaps(root, e["heatmaps"], embed_images))
    parts.append(_outputs(root, stages))
    return "\n".join(parts)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    """A markdown table, every cell escaped (see `cell`)."""
    lines = ["| " + " | ".join(cell(c) for c in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def cell(value: Any) -> str:
    """`value` as one markdown table cell: "|" escaped (sacrebleu signatures hold it), line breaks as <br>."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("|", "\\|").replace("\n", "<br>")


def _corpus(a: dict) -> str:
    """Pairs per split and rejects per reason."""
    rows = [[split, f"{n:,}"] for split, n in a.get("counts", {}).items()]
    rows += [[f"rejected: {reason}", f"{n:,}"] for reason, n in a.get("rejects", {}).items()]
    title = f"## Corpus: {a.get('corpus')} {a.get('src_lang')}->{a.get('tgt_lang')}\n\n"
    return title + _table(["split", "pairs"], rows)


def _tokenizer(t: dict) -> str:
    """Tokenizer settings and length statistics per split."""
    rows = []
    for split, st in t.get("splits", {}).items():
        src, tgt = st.get("src_len", {}), st.get("tgt_len", {})
        rows.append(
            [
                split,
                f"{st.get('rows', 0):,}",
                src.get("mean"),
                src.get("p95"),
                tgt.get("mean"),
                tgt.get("p95"),
                t.get("over_limit", {}).get(split, 0),
            ]
        )
    head = f"## Tokenizer: sentencepiece {t.get('model_type')}, {t.get('src_vocab_size'):,} pieces"
    head += " (joint)" if t.get("joint") else f" / {t.get('tgt_vocab_size'):,}"
    cols = ["split", "rows", "src mean", "src p95", "tgt mean", "tgt p95", f"over {t.get('length_limit')}"]
    return f"{head}\n\n" + _table(cols, rows)


def _curve(root: Path, tr: dict) -> str:
    """The validation history from train/metrics.jsonl."""
    path = RunDir(root).train / "metrics.jsonl"
    history = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    rows = [
        [
            h["step"],
            h.get("epoch"),
            f"{h.get('train_loss', 0):.3f}",
            f"{h['valid_loss']:.3f}",
            f"{h['valid_bleu']:.2f}",
            f"{h.get('lr', 0):.2g}",
            f"{h.get('elapsed', 0) / 60:.1f}",
            "best" if h.get("best") else "",
        ]
        for h in history
    ]
    head = (
        f"## Training: {tr.get('steps', 0):,} steps in {tr.get('seconds', 0) / 60:.1f} min "
        f"on {tr.get('device')}, "
        f"{tr.get('tokens_per_s', 0):,.0f} target tokens/s, stopped: {tr.get('stopped')}\n\n"
    )
    cols = ["step", "epoch", "train loss", "valid loss", "valid BLEU", "lr", "minutes", ""]
    return head + (_table(cols, rows) if rows else "No validation yet.\n")


def _scores(e: dict) -> str:
    """BLEU, chrF and TER per test set and decoding."""
    table: dict[tuple[str, str], dict[str, float]] = {}
    for m in e.get("metrics", []):
        table.setdefault((m["test_set"], m["decoding"]), {})[m["metric"]] = m["score"]
    rows = [
        [ts, dec, *(f"{s[m]:.2f}" if m in s else "" for m in ("BLEU", "chrF", "TER"))]
        for (ts, dec), s in table.items()
    ]
    sigs = {sc["bleu_signature"] for sc in e.get("scores", {}).values() if "bleu_signature" in sc}
    note = f"\nsacrebleu BLEU signature: `{sorted(sigs)[0]}`\n" if sigs else ""
    return "## Scores\n\n" + _table(["test set", "decoding", "BLEU", "chrF", "TER"], rows) + note


def _alignment(alignment: dict) -> str:
    """AER, precision and recall of the attention, the statistical aligner and the diagonal against gold."""
    rows = []
    for split, a in alignment.items():
        aligners = [(f"{a.get('attention', 'unguided')} attention", a)]
        aligners += [("alignment head", a["head"])] if a.get("head") else []
        aligners += [("statistical aligner", a["statistical"])] if a.get("statistical") else []
        for name, s in aligners:
            scores = [f"{s[k]:.3f}" for k in ("aer", "precision", "recall")]
            rows.append([split, name, *scores, s["sentences"]])
        rows.append([split, "diagonal", f"{a['diagonal_aer']:.3f}", "", "", a["sentences"]])
    return "## Word alignment against the gold\n\n" + _table(
        ["test set", "aligner", "AER", "precision", "recall", "sentences"], rows
    )


def _heatmaps(root: Path, paths: list[str], embed: bool) -> str:
    """Heatmap images: linked relative to the run directory, or embedded as PNG data URIs."""
    lines = ["## Attention heatmaps\n"]
    budget = EMBED_TOTAL_BYTES
    for p in paths:
        rel = os.path.relpath(p, root)
        size = Path(p).stat().st_size if embed and Path(p).is_file() else None
        if size is not None and size <= min(EMBED_MAX_BYTES, budget):
            budget -= size
            data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
            lines.append(f"**{rel}**\n\n![{rel}](data:image/png;base64,{data})\n")
        elif embed:
            why = "missing" if size is None else f"{size:,} bytes, over the embedding limit"
            lines.append(f"- {rel} (not embedded: {why}; in the run directory)")
        else:
            lines.append(f"- [{rel}]({rel})")
    return "\n".join(lines) + "\n"


def _outputs(root: Path, stages: dict) -> str:
    """Where each stage wrote its outputs."""
    run = RunDir(root)
    rows = [["report", str(run.report)]]
    for stage, path in (
        ("acquire", run.acquire),
        ("tokenize", run.tokenize),
        ("train", run.train),
        ("evaluate", run.evaluate),
    ):
        if stage in stages:
            rows.append([stage, str(path)])
    if x := stages.get("translate"):
        rows.append(["translate", str(x.get("out_dir"))])
    return "## Outputs\n\n" + _table(["stage", "path"], rows)

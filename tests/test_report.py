"""report.md and the run-report artifact: escaped table cells, heatmaps linked or embedded."""

import base64
import re
from pathlib import Path

from nmt import report
from nmt.ops.summaries import inbox_markdown

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:zh|smooth:exp|version:2.5.1"


def _cells(row: str) -> list[str]:
    """The cells of a markdown table row, split at unescaped pipes as GitHub's renderer does."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _report(run: Path, heatmaps: list[str]) -> dict:
    scores = {"bleu": 31.5, "chrf": 55.25, "ter": 60.0, "sentences": 10}
    evaluate = {
        "scores": {"test": {**scores, "decoding": "beam5", "bleu_signature": SIGNATURE}},
        "metrics": [
            {"test_set": "test", "decoding": "beam5", "metric": m, "score": s}
            for m, s in (("BLEU", 31.5), ("chrF", 55.25), ("TER", 60.0))
        ],
        "heatmaps": heatmaps,
    }
    return {"run_dir": str(run), "stages": {"evaluate": evaluate}}


def test_a_signature_with_pipes_keeps_every_row_its_cells(tmp_path: Path):
    md = report.to_markdown(_report(tmp_path, []))
    rows = [line for line in md.splitlines() if line.startswith("| evaluate | test:")]
    assert len(rows) == 1
    cells = _cells(rows[0])
    assert len(cells) == 2
    assert cells[1].endswith("(beam5; " + SIGNATURE.replace("|", "\\|") + ")")
    score_rows = [line for line in md.splitlines() if line.startswith("| test | beam5 |")]
    assert [_cells(r) for r in score_rows] == [["test", "beam5", "31.50", "55.25", "60.00"]]


def test_cells_escape_pipes_and_line_breaks():
    assert report.cell("a|b\nc\r\nd") == "a\\|b<br>c<br>d"
    md = inbox_markdown(
        {
            "batch": "b1",
            "pair": "de-en",
            "model_id": "m",
            "inbox": "in",
            "outbox": "out",
            "waiting": 0,
            "files": [{"name": "x|y.txt", "status": "failed", "sentences": 0, "reason": "bad\nline"}],
        }
    )
    row = next(line for line in md.splitlines() if line.startswith("| x"))
    assert _cells(row) == ["x\\|y.txt", "failed", "0", "bad<br>line"]


def test_heatmaps_are_linked_in_the_file_and_embedded_in_the_artifact(tmp_path: Path):
    folder = tmp_path / "evaluate" / "heatmaps"
    folder.mkdir(parents=True)
    small, big = folder / "test-00000.png", folder / "test-00001.png"
    small.write_bytes(b"\x89PNG\r\n\x1a\n small")
    big.write_bytes(b"\x89PNG" + b"\0" * report.EMBED_MAX_BYTES)
    run = _report(tmp_path, [str(small), str(big)])

    linked = report.to_markdown(run)
    assert "- [evaluate/heatmaps/test-00000.png](evaluate/heatmaps/test-00000.png)" in linked
    assert "data:image" not in linked

    embedded = report.to_markdown(run, embed_images=True)
    data = base64.b64encode(small.read_bytes()).decode()
    assert f"![evaluate/heatmaps/test-00000.png](data:image/png;base64,{data})" in embedded
    size = f"{report.EMBED_MAX_BYTES + 4:,}"
    assert (
        f"- evaluate/heatmaps/test-00001.png (not embedded: {size} bytes, over the embedding limit"
        in embedded
    )
    assert "](evaluate/heatmaps" not in embedded  # no relative link, dead in the Prefect UI

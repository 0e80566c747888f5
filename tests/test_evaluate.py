"""The evaluate stage on a trained model: metrics table, TER, alignment against gold, heatmaps."""

import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sacrebleu

from nmt import report
from nmt.core.atomic import read_json
from nmt.core.rundir import RunDir
from nmt.core.schema import METRICS
from nmt.evaluate.scores import EvaluateConfig, append_metrics, find_test_sets, run_evaluate


def test_test_sets_are_test_then_the_extra_ones():
    splits = ["train", "test_2017_mscoco", "valid", "test", "test_2017_flickr"]
    assert find_test_sets(splits) == ["test", "test_2017_flickr", "test_2017_mscoco"]


@pytest.mark.slow
def test_evaluate_writes_metrics_alignment_scores_and_heatmaps(trained_run, tmp_path):
    shared = tmp_path / "metrics.parquet"
    cfg = EvaluateConfig(
        beams=[2, 1], device="cpu", metrics_table=shared, heatmap_sentences=[0, 99, 500], heatmap_worst=2
    )
    out = tmp_path / "eval"
    summary = run_evaluate(trained_run, cfg, out)

    table = pq.read_table(out / "metrics.parquet")
    assert table.schema.remove_metadata() == METRICS.remove_metadata()
    rows = table.to_pylist()
    keys = [(r["test_set"], r["decoding"], r["metric"]) for r in rows]
    assert keys == [("test", d, m) for d in ("greedy", "beam2") for m in ("BLEU", "chrF", "TER")]
    manifest = read_json(RunDir(trained_run).acquire / "manifest.json")
    assert {r["pair"] for r in rows} == {f"{manifest['src_lang']}-{manifest['tgt_lang']}"}
    assert {r["sentences"] for r in rows} == {100}

    refs = [
        p["tgt"]
        for p in pq.read_table(RunDir(trained_run).acquire / "pairs.parquet").to_pylist()
        if p["split"] == "test"
    ]
    hyps = (out / "test.beam2.hyp.txt").read_text().splitlines()
    ter = sacrebleu.metrics.TER().corpus_score(hyps, [refs]).score
    assert rows[5]["score"] == round(ter, 2) and summary["scores"]["test"]["ter"] == round(ter, 2)
    assert summary["scores"]["test"]["decoding"] == "beam2"  # the widest beam is the headline

    a = summary["alignment"]["test"]
    assert a["sentences"] == 100 and 0.0 <= a["aer"] <= 1.0 and a["predicted"] > 500
    assert a["aer"] < a["diagonal_aer"]  # the trained attention aligns better than the diagonal
    assert a["attention"] == "guided"  # the pipeline ran the align stage: eflomal is installed here
    assert a["statistical"]["sentences"] == 100 and a["statistical"]["aer"] < 0.2
    assert len((out / "alignment" / "test.links").read_text().splitlines()) == 100

    pngs = summary["heatmaps"]
    assert [p.split("/")[-1] for p in pngs[:2]] == ["test-00000.png", "test-00099.png"]
    assert len(pngs) == 4 and all("test-worst/line-" in p for p in pngs[2:])
    for p in pngs:
        data = Path(p).read_bytes()[:24]
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and min(struct.unpack(">II", data[16:24])) > 100

    assert pq.read_table(shared).num_rows == 6
    again = run_evaluate(trained_run, cfg.model_copy(update={"beams": [1]}), tmp_path / "again")
    assert again["scores"]["test"]["decoding"] == "greedy"
    assert pq.read_table(shared).num_rows == 6  # the same model's greedy rows were replaced
    other = pa.Table.from_pylist([{**r, "model_id": "another-model"} for r in rows], schema=METRICS)
    assert append_metrics(shared, other).num_rows == 12


def test_markdown_report_has_every_section(trained_run):
    text = (trained_run / "report.md").read_text()
    for heading in (
        "# Run",
        "## Corpus",
        "## Tokenizer",
        "## Training",
        "## Scores",
        "## Word alignment against the gold",
        "## Outputs",
    ):
        assert heading in text
    assert "| test | greedy |" in text
    assert "| test | guided attention |" in text and "| test | statistical aligner |" in text
    assert report.to_markdown(report.load(trained_run)) == text

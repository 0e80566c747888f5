"""The pipeline flow end to end on a small generated corpus, through Prefect."""

import json

import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from run_fixtures import small_pipeline

from flows.pipeline import pipeline
from nmt.core.schema import ALIGNMENTS, TRANSLATIONS


def artifacts(key: str, run: str) -> list:
    """Every version of the artifact with this key that is about run `run` (other tests share keys)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return [a for a in found if f" {run}" in (a.description or "") or f"Run `{run}`" in str(a.data)]


@pytest.mark.slow
def test_pipeline_flow_learns_and_writes_the_documented_tables(tmp_path):
    cfg = small_pipeline(tmp_path, "e2e", translate_beam=3)
    result = pipeline(cfg)
    run = tmp_path / "e2e"
    assert set(result["stages"]) == {"acquire", "tokenize", "align", "train", "evaluate", "translate"}
    assert result["stages"]["acquire"]["counts"] == {"train": 3000, "valid": 100, "test": 100}
    # An untrained model scores below 2 BLEU here (tests/test_pipeline.py measures it).
    assert result["scores"]["test"]["bleu"] > 20

    sentences = 3 * 3 * 4  # the sample job: 3 documents of 3 paragraphs of 4 test sentences
    assert len(list((run / "inbox" / "sample").glob("*.txt"))) == 3
    job = run / "translate" / "sample"
    translations = pq.read_table(job / "translations.parquet")
    alignments = pq.read_table(job / "alignments.parquet")
    assert translations.num_rows == sentences
    assert alignments.num_rows == sentences
    assert translations.schema.remove_metadata().equals(TRANSLATIONS.remove_metadata())
    assert alignments.schema.remove_metadata().equals(ALIGNMENTS.remove_metadata())
    row = alignments.slice(0, 1).to_pylist()[0]
    assert len(row["attention"]) == row["src_len"] * row["tgt_len"]
    assert row["src_tokens"][-1] == row["tgt_tokens"][-1] == "</s>"
    for r in range(row["tgt_len"]):
        assert abs(sum(row["attention"][r * row["src_len"] : (r + 1) * row["src_len"]]) - 1) < 1e-4
    keys = translations.select(["doc_id", "paragraph", "sentence"]).to_pylist()
    assert len({tuple(k.values()) for k in keys}) == sentences

    metrics = artifacts("train-metrics", "e2e")
    assert metrics and json.loads(metrics[0].data)[-1]["step"] == 300
    scores = json.loads(artifacts("test-scores", "e2e")[0].data)
    bleu = {
        "test_set": "test",
        "decoding": "greedy",
        "metric": "BLEU",
        "score": result["scores"]["test"]["bleu"],
    }
    assert scores[0] == bleu and [s["metric"] for s in scores] == ["BLEU", "chrF", "TER"]
    run_report = artifacts("run-report", "e2e")[0].data
    assert "| evaluate |" in run_report
    assert "](data:image/png;base64,iVBORw0KGgo" in run_report  # heatmaps embedded: PNG data, no dead links
    assert "](evaluate/heatmaps/" not in run_report

"""The inbox, pipeline-for-pair and retrain flows through Prefect: run names, artifacts, the registry."""

import os
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName
from registry_fixtures import PAIR, make_registrable_run, registry_with_current

from flows.inbox import inbox
from flows.pipeline import pipeline_for_pair
from flows.retrain import retrain
from nmt.ops.registry import Registry

TINY = {
    "acquire": {"source": {"sizes": {"train": 400, "valid": 30, "test": 30}}},
    "tokenize": {"vocab_size": 500},
    "train": {"max_steps": 20, "valid_every": 20, "batch_tokens": 800, "device": "cpu", "num_threads": 1},
    "evaluate": {"beams": [1], "device": "cpu", "heatmap_sentences": [], "heatmap_worst": 0},
}


def artifact(key: str) -> str:
    """The latest version of the Prefect artifact with this key."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return found[0].data


def flow_runs_named(prefix: str) -> list[str]:
    """Names of the flow runs whose name starts with `prefix`."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=prefix)))
    return [r.name for r in runs if r.name.startswith(prefix)]


def test_inbox_flow_translates_and_reports(tmp_path):
    registry = registry_with_current(tmp_path / "registry", make_registrable_run(tmp_path / "run"))
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text("Ein mann läuft. Die katze sitzt.\n\nEin kind spielt.\n")
    old = time.time() - 3600
    os.utime(folder / "a.txt", (old, old))
    summary = inbox(inbox=str(folder), pair=PAIR, registry=str(registry.root), beam=1, device="cpu")
    assert (summary["done"], summary["failed"], summary["sentences"]) == (1, 0, 3)
    assert (tmp_path / "outbox" / "a.txt").read_text().strip()
    assert os.listdir(folder / "done") == ["a.txt"]
    assert "| a.txt | done | 3 |" in artifact("inbox-report")
    assert f"inbox {PAIR} {folder}" in flow_runs_named(f"inbox {PAIR}")
    empty = inbox(inbox=str(folder), pair=PAIR, registry=str(registry.root), device="cpu")
    assert empty["files"] == [] and empty["job_dir"] is None


@pytest.mark.slow
def test_pipeline_for_pair_registers_then_retrain_compares_with_it(tmp_path):
    root, runs = str(tmp_path / "registry"), str(tmp_path / "runs")
    common = {"corpus": "generated", "pair": "en-xx", "preset": "tiny", "max_minutes": 5, "run_root": runs}
    first = pipeline_for_pair(**common, registry=root, overrides=TINY)
    registry = Registry.open(root)
    assert registry.current("en-xx") == first["model_id"]  # the first model of the pair
    card = registry.card(first["model_id"])
    assert card["train"]["preset"] == "tiny" and card["corpus"]["counts"]["train"] == 400
    assert "test" in card["scores"] and card["code_version"]["nmt"]
    assert flow_runs_named("pipeline generated en-xx tiny 5min")

    decision = retrain(**common, registry=root, overrides=TINY)
    assert decision["current_before"] == first["model_id"] and decision["current_scores"] is not None
    better = decision["candidate_scores"]["bleu"] > decision["current_scores"]["bleu"]
    assert decision["promoted"] == better
    assert registry.current("en-xx") == (decision["candidate"] if better else first["model_id"])
    assert len(registry.cards()) == 2
    report = artifact("retrain-report")
    assert "| train |" in report and "| candidate |" in report and decision["reason"] in report
    assert flow_runs_named("retrain generated en-xx tiny")

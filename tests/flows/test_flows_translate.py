"""The translate flow with shards on Prefect's thread pool and on a two-worker Dask cluster."""

import os
import shutil
from unittest import mock

import pyarrow.parquet as pq
import pytest
import torch
from distributed import Client, LocalCluster
from registry_fixtures import PAIR, make_registrable_run, registry_with_current
from test_translate import write_docs
from test_translate_resume import tree_bytes

from flows.translate import translate
from nmt import report
from nmt.core.rundir import RunDir
from nmt.model.export import export_model
from nmt.translate import TranslateConfig, run_translate

DOCS, PARAGRAPHS, PER_PARAGRAPH = 8, 2, 3
SHARDS = DOCS + 1  # and dup.txt, a copy of doc0.txt: its sentences are shared by two shards
SENTENCES = SHARDS * PARAGRAPHS * PER_PARAGRAPH
# One document a shard; threads pinned: torch's CPU sums depend on the thread count.
CFG = TranslateConfig(beam=2, threads=1, shard_bytes=100, job_id="job", progress=False)


@pytest.fixture(scope="module")
def run(trained_run, tmp_path_factory):
    """A copy of the session's trained run, so these flows record their reports in it alone."""
    return shutil.copytree(trained_run, tmp_path_factory.mktemp("flows") / "run")


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    folder = write_docs(tmp_path_factory.mktemp("docs"), DOCS, PARAGRAPHS, PER_PARAGRAPH)
    (folder / "dup.txt").write_text((folder / "doc0.txt").read_text())
    return folder


@pytest.fixture(scope="module")
def sequential(run, docs, tmp_path_factory):
    """The files of the same job translated by one process, shard after shard."""
    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("sequential")
    try:
        summary = run_translate([docs], run, CFG, out)
    finally:
        torch.set_num_threads(threads)
    assert summary["shards"] == SHARDS and summary["sentences"] == SENTENCES
    assert summary["shared_sentences"] == PARAGRAPHS * PER_PARAGRAPH
    assert summary["unique_sentences"] == summary["decoded_sentences"] == DOCS * PARAGRAPHS * PER_PARAGRAPH
    return tree_bytes(out)


def check_job(run, job_id: str, summary: dict, sequential: dict) -> None:
    """The flow's job folder holds the sequential run's bytes, one row per sentence, and the report has it."""
    out = RunDir(run).translate_job(job_id)
    assert tree_bytes(out) == sequential
    assert pq.read_table(out / "translations.parquet").num_rows == SENTENCES
    assert pq.read_table(out / "alignments.parquet").num_rows == SENTENCES
    assert summary["sentences"] == SENTENCES and summary["shards"] == SHARDS
    assert report.load(run)["stages"]["translate"]["out_dir"] == str(out)


def test_thread_pool_flow_writes_the_sequential_bytes_and_skips_a_done_job(run, docs, sequential):
    summary = translate(run, [docs], CFG, "pool", workers=2)
    check_job(run, "pool", summary, sequential)
    assert summary["shards_skipped"] == 0
    again = translate(run, [docs], CFG, "pool", workers=2)
    assert again["shards_skipped"] == SHARDS and again["seconds"] == 0.0


def test_dask_flow_spreads_shards_over_two_workers(run, docs, sequential):
    # The nanny sets OMP_NUM_THREADS=1 and more in this process's environment before it spawns workers.
    with (
        mock.patch.dict(os.environ),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        summary = translate(run, [docs], CFG, "dask", cluster=cluster.scheduler_address)
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    check_job(run, "dask", summary, sequential)
    assert len(executed) == 2 and min(executed.values()) >= 1
    assert sum(executed.values()) == 1 + SHARDS  # the shared step, one task per shard, nothing else


def test_flow_on_an_export_or_a_registered_pair_translates_like_the_run(tmp_path, docs):
    run = make_registrable_run(tmp_path / "run")  # the tiny random model: no training
    export_model(run, tmp_path / "export")
    registry = registry_with_current(tmp_path / "registry", run)
    on_run = translate(run, [docs], CFG, "job", workers=2)
    on_export = translate(tmp_path / "export", [docs], CFG, "job", workers=2, out_dir=tmp_path / "by-export")
    on_pair = translate(PAIR, [docs], CFG, "job", out_dir=tmp_path / "by-pair", registry=registry.root)
    run_job = RunDir(run).translate_job("job")
    table = pq.read_table(run_job / "translations.parquet")
    assert table.num_rows == on_run["sentences"] == SENTENCES
    assert tree_bytes(tmp_path / "by-export") == tree_bytes(run_job)  # same model id, same bytes
    assert on_export["model_id"] == on_run["model_id"] == table["model_id"][0].as_py()
    by_pair = pq.read_table(tmp_path / "by-pair" / "translations.parquet")
    assert by_pair.drop_columns("model_id") == table.drop_columns("model_id")
    assert on_pair["model_id"].startswith(registry.current(PAIR))  # the registered copy's id
    assert report.load(run)["stages"]["translate"]["out_dir"] == str(run_job)
    assert not (tmp_path / "export" / "report.json").exists()  # an export is not written to
    with pytest.raises(ValueError, match="export is not a run folder: give out_dir"):
        translate(tmp_path / "export", [docs], CFG, "again")

"""acquire and tokenize partitioned on a local two-worker Dask cluster: the bytes of a local run."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

from nmt.align.corpus import AlignCorpusConfig
from nmt.core.atomic import read_json
from nmt.core.cluster import ClusterUnavailable
from nmt.data import partitions
from nmt.data.acquire import AcquireConfig, GeneratedSource, run_acquire
from nmt.evaluate.scores import EvaluateConfig
from nmt.pipeline import PipelineConfig, run_pipeline
from nmt.text import token_shards
from nmt.text.tokenization import TokenizeConfig, run_tokenize
from nmt.train.config import TrainConfig
from nmt.translate.config import TranslateConfig

REPO = Path(__file__).resolve().parents[1]
TRAIN_LINES = 6000
# (line number in the train files, English bytes, German bytes, expected reason)
BAD = [
    (3, b"Bad \xff\xfe bytes.", b"Schlechte Bytes.", "invalid_utf8"),
    (900, b"", b"Leer.", "empty"),
    (1500, b"A cat\x00sleeps.", b"Eine Katze.", "nul_byte"),
    (2600, b"Short.", b"Dies ist ein viel zu langer Satz f\xc3\xbcr so wenig.", "length_ratio"),
    (4100, b"x" * 5000, b"Lang.", "too_long"),
]
DUPLICATE_OF, DUPLICATE_AT = 10, 5200  # a repeat of an early line, several chunks later
TIMINGS = ("seconds", "train_seconds", "encode_seconds", "pairs_per_s")


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster of two single-threaded worker processes, and a client of it."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local,
        Client(local, set_as_default=False) as client,
    ):
        yield local.scheduler_address, client


def executed(client: Client) -> dict[str, int]:
    """Tasks each worker has run so far, by worker address."""
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


@pytest.fixture(scope="module")
def corpus(shared_corpora, tmp_path_factory) -> Path:
    """Multi30k de-en train (first lines), val and test, with bad lines and a late duplicate in train."""
    folder = tmp_path_factory.mktemp("corpus")
    multi30k = shared_corpora / "multi30k"
    sides = {}
    for lang in ("en", "de"):
        sides[lang] = gzip.decompress((multi30k / f"train.{lang}.gz").read_bytes()).split(b"\n")[:TRAIN_LINES]
        for name in ("val", "test_2016_flickr"):
            shutil.copy(multi30k / f"{name}.{lang}.gz", folder / f"{name}.{lang}.gz")
    for line, en, de, _ in BAD:
        sides["en"].insert(line - 1, en)
        sides["de"].insert(line - 1, de)
    for lang in ("en", "de"):
        sides[lang].insert(DUPLICATE_AT - 1, sides[lang][DUPLICATE_OF - 1])
        (folder / f"train.{lang}").write_bytes(b"\n".join(sides[lang]) + b"\n")
    return folder


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks far smaller than the defaults, so that a cluster run has many and they interleave."""
    monkeypatch.setattr(partitions, "CHUNK_ITEMS", 700)
    monkeypatch.setattr(token_shards, "ENCODE_ROWS", 300)


def acquire_cfg(corpus: Path, tmp_path: Path) -> AcquireConfig:
    source = {"kind": "directory", "location": str(corpus), "src_lang": "en", "tgt_lang": "de"}
    return AcquireConfig(source=source, cache_dir=tmp_path / "cache")


def same_files(a: Path, b: Path, names: list[str]) -> None:
    """Each named file has the same bytes under `a` and `b`."""
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def without_timings(manifest: dict) -> dict:
    """A tokenize manifest less its timings and the input's path (the runs are in two folders)."""
    summary = {k: v for k, v in manifest["summary"].items() if k not in TIMINGS}
    return {**manifest, "summary": summary, "input": manifest["input"]["sha256"]}


def test_acquire_and_tokenize_on_two_workers_give_the_local_bytes(corpus, cluster, tmp_path, monkeypatch):
    address, client = cluster
    local, remote = tmp_path / "local", tmp_path / "remote"
    tokenize = TokenizeConfig(vocab_size=1000, threads=2, row_group_rows=1000)
    run_acquire(acquire_cfg(corpus, tmp_path), local / "acquire")
    run_tokenize(local / "acquire" / "pairs.parquet", tokenize, local / "tokenize")

    before = executed(client)
    monkeypatch.setattr(partitions, "CHUNK_ITEMS", 700)
    summary = run_acquire(acquire_cfg(corpus, tmp_path), remote / "acquire", cluster=address)
    after_acquire = executed(client)
    assert all(after_acquire[w] - before[w] >= 1 for w in before), (before, after_acquire)
    monkeypatch.setattr(token_shards, "ENCODE_ROWS", 300)
    run_tokenize(remote / "acquire" / "pairs.parquet", tokenize, remote / "tokenize", cluster=address)
    after_tokenize = executed(client)
    assert all(after_tokenize[w] - after_acquire[w] >= 1 for w in before), (after_acquire, after_tokenize)

    same_files(local / "acquire", remote / "acquire", ["pairs.parquet", "rejects.parquet", "manifest.json"])
    assert summary["counts"] == {"train": TRAIN_LINES, "valid": 1014, "test": 1000}
    rejects = pq.read_table(remote / "acquire" / "rejects.parquet").to_pylist()
    expected = [("train.en", line, reason) for line, *_, reason in BAD]
    expected.append(("train.en", DUPLICATE_AT, "duplicate"))
    assert [(r["origin"], r["line"], r["reason"]) for r in rejects] == expected
    assert rejects[-1]["detail"] == f"same pair as train.en:{DUPLICATE_OF}"
    assert rejects[0]["raw"] == "Bad \\xff\\xfe bytes."

    files = sorted(p.name for p in (local / "tokenize").iterdir())
    assert files == sorted(p.name for p in (remote / "tokenize").iterdir())
    assert {"train.parquet", "valid.parquet", "test.parquet", "spm.model"} <= set(files)
    same_files(local / "tokenize", remote / "tokenize", [f for f in files if f != "manifest.json"])
    manifests = [read_json(run / "tokenize" / "manifest.json") for run in (local, remote)]
    assert without_timings(manifests[0]) == without_timings(manifests[1])
    assert manifests[1]["summary"]["rows"] == {"test": 1000, "train": TRAIN_LINES, "valid": 1014}


def test_seeded_split_on_two_workers_gives_the_local_bytes(corpus, cluster, tmp_path, small_chunks):
    table = tmp_path / "pairs.tsv"
    en = (corpus / "train.en").read_bytes().split(b"\n")[:-1]
    de = (corpus / "train.de").read_bytes().split(b"\n")[:-1]
    table.write_bytes(b"".join(a + b"\t" + b + b"\n" for a, b in zip(en, de, strict=True)))
    cfg = AcquireConfig(source={"kind": "table", "location": str(table)}, cache_dir=tmp_path / "cache")
    local = run_acquire(cfg, tmp_path / "local")
    remote = run_acquire(cfg, tmp_path / "remote", cluster=cluster[0])
    same_files(tmp_path / "local", tmp_path / "remote", ["pairs.parquet", "rejects.parquet", "manifest.json"])
    assert set(local["counts"]) == {"train", "valid", "test"} and remote["counts"] == local["counts"]
    assert remote["rejects"] == {r: 1 for *_, r in BAD} | {"duplicate": 1}


def tiny_pipeline(run_root: Path, run_name: str, cluster: str | None = None) -> PipelineConfig:
    """The whole pipeline at its cheapest: 600 generated pairs, two training steps, greedy decoding."""
    return PipelineConfig(
        run_root=run_root,
        run_name=run_name,
        acquire=AcquireConfig(source=GeneratedSource(sizes={"train": 600, "valid": 20, "test": 20})),
        tokenize=TokenizeConfig(model_type="bpe", vocab_size=500, row_group_rows=100),
        align=AlignCorpusConfig(enabled=False),
        train=TrainConfig(preset="tiny", batch_tokens=500, max_steps=2, max_epochs=None, valid_every=2),
        evaluate=EvaluateConfig(beams=[1], device="cpu", heatmap_sentences=[], heatmap_worst=0),
        translate=TranslateConfig(beam=1, threads=1, progress=False),
        cluster=cluster,
    )


def test_the_pipeline_runs_acquire_and_tokenize_on_the_cluster_with_the_local_bytes(
    cluster, tmp_path, monkeypatch
):
    address, client = cluster
    monkeypatch.setattr(partitions, "CHUNK_ITEMS", 100)  # several chunks of 640 pairs
    monkeypatch.setattr(token_shards, "ENCODE_ROWS", 100)
    local = Path(run_pipeline(tiny_pipeline(tmp_path, "local"))["run_dir"])
    before = executed(client)
    remote = Path(run_pipeline(tiny_pipeline(tmp_path, "remote", address))["run_dir"])
    after = executed(client)
    assert all(after[w] - before[w] >= 1 for w in before), (before, after)  # both workers took chunks

    acquired = sorted(str(p.relative_to(local / "acquire")) for p in (local / "acquire").rglob("*.*"))
    assert {"pairs.parquet", "rejects.parquet", "manifest.json", "gold/test.talp"} <= set(acquired)
    same_files(local / "acquire", remote / "acquire", acquired)
    tokenized = sorted(p.name for p in (local / "tokenize").iterdir())
    assert tokenized == sorted(p.name for p in (remote / "tokenize").iterdir())
    same_files(local / "tokenize", remote / "tokenize", [f for f in tokenized if f != "manifest.json"])
    manifests = [read_json(run / "tokenize" / "manifest.json") for run in (local, remote)]
    assert without_timings(manifests[0]) == without_timings(manifests[1])
    assert manifests[1]["summary"]["rows"] == {"train": 600, "valid": 20, "test": 20}


@pytest.mark.parametrize("command", ["acquire", "run"])
def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, command):
    env = {**os.environ, "COLUMNS": "500", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    config = tmp_path / "pipeline.json"
    config.write_text(tiny_pipeline(tmp_path, "run").model_dump_json())
    where = {"acquire": ["--out", str(tmp_path / "run")], "run": ["--config", str(config)]}[command]
    args = [command, *where, "--cluster", "tcp://127.0.0.1:9"]  # nmt run passes it on to acquire
    done = subprocess.run(
        [sys.executable, "-m", "nmt", *args], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if " INFO " not in line]  # nmt run logs its steps
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert issubclass(ClusterUnavailable, OSError)

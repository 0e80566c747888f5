"""The acquire and tokenize flows with `cluster`: their chunks run on a two-worker Dask cluster."""

from distributed import Client, LocalCluster

from flows.acquire import acquire
from flows.tokenize import tokenize
from nmt.core.rundir import RunDir
from nmt.data.acquire import AcquireConfig
from nmt.pipeline import acquire_stage, tokenize_stage
from nmt.text.tokenization import TokenizeConfig

ACQUIRE = AcquireConfig(source={"kind": "generated", "sizes": {"train": 3000, "valid": 100, "test": 100}})
TOKENIZE = TokenizeConfig(vocab_size=600, threads=1, row_group_rows=500)


def test_flows_on_a_cluster_write_the_local_bytes(tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    acquire_stage(local, ACQUIRE)
    tokenize_stage(local, TOKENIZE)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        acquired = acquire(remote, ACQUIRE, cluster=cluster.scheduler_address)
        tokenized = tokenize(remote, TOKENIZE, cluster=cluster.scheduler_address)
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(executed.values()) >= 2  # one acquire chunk and at least one encoding chunk
    assert acquired["counts"] == {"train": 3000, "valid": 100, "test": 100}
    assert tokenized["rows"] == {"test": 100, "train": 3000, "valid": 100}
    for stage, names in (("acquire", ["pairs.parquet", "rejects.parquet"]), ("tokenize", ["train.parquet"])):
        for name in names:
            got = (getattr(RunDir(remote), stage) / name).read_bytes()
            assert got == (getattr(RunDir(local), stage) / name).read_bytes(), name

"""The deployments of deployments/prefect.yaml on a real Prefect server, run by a process worker.

A `prefect server start` on a free loopback port with its own PREFECT_HOME; the work pool, the
"gpu" concurrency limit and the deployments are created with the README's commands; the inbox
deployment is triggered twice over the same inbox, and a worker started with --run-once runs both
side by side. The server's scheduler is off so that only the runs triggered here exist. Every
process is stopped by its PID.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    LogFilter,
    LogFilterFlowRunId,
)

from nmt.ops.registry import Registry

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")
HOUR_AGO = time.time() - 3600


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict, *args: str, timeout: float = 180) -> str:
    """Run a prefect command from the repository root; its output, or a failure showing it."""
    done = subprocess.run(
        [PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"prefect {' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def wait_healthy(url: str, server: subprocess.Popen, log: Path, limit: float = 180) -> None:
    """Wait until the server answers /health; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited:\n{log.read_text()[-4000:]}"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"no healthy server at {url} after {limit:.0f} s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    """Interrupt a process by its PID (as Ctrl-C does), then kill it if it has not exited in 30 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server of its own; yields (API URL, environment for prefect commands)."""
    home = tmp_path_factory.mktemp("prefect-home")
    url = f"http://127.0.0.1:{free_port()}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        OMP_NUM_THREADS="1",  # two flow runs share a busy CPU: no OpenMP spinning
    )
    log_path = home / "server.log"
    port = url.split(":")[-1].removesuffix("/api")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(url, process, log_path)
            yield url, env
        finally:
            stop(process)


def write_documents(inbox: Path, run_dir: Path) -> dict[str, str]:
    """Three settled documents of the run's source sentences (2 paragraphs of 2), a binary file, a
    Latin-1 file, and a file still being written; return the good documents' texts by name."""
    src = pq.read_table(run_dir / "acquire" / "pairs.parquet", columns=["src"])["src"].to_pylist()
    inbox.mkdir(parents=True)
    docs = {}
    for d in range(3):
        s = src[4 * d : 4 * d + 4]
        docs[f"doc-{d + 1}.txt"] = f"{s[0]} {s[1]}\n\n{s[2]} {s[3]}\n"
    files = {name: text.encode() for name, text in docs.items()}
    files |= {
        "image.bin": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "latin1.txt": "Café crème.\n".encode("latin-1"),
    }
    for name, data in files.items():
        (inbox / name).write_bytes(data)
        os.utime(inbox / name, (HOUR_AGO, HOUR_AGO))
    (inbox / "writing.txt").write_text(src[12])
    return docs


@pytest.mark.slow
def test_inbox_deployment_translates_each_file_once_on_a_server(server, trained_run, tmp_path):
    url, env = server
    registry = Registry.open(tmp_path / "registry")
    card = registry.register(trained_run)
    registry.promote(card["model_id"], "integration test")
    inbox = tmp_path / "inbox"
    docs = write_documents(inbox, trained_run)

    cli(env, "work-pool", "create", "nmt", "--type", "process")
    cli(env, "gcl", "create", "gpu", "--limit", "1")
    cli(env, "--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml", "--all")
    params = {
        "inbox": str(inbox),
        "pair": card["pair"],
        "registry": str(registry.root),
        "settle_seconds": 600,
        "beam": 1,
        "device": "cpu",
    }
    cli(env, "deployment", "run", "inbox/inbox", "--params", json.dumps(params))
    with SyncPrefectClient(url) as client:
        deployment = client.read_deployment_by_name("inbox/inbox")
        client.create_flow_run_from_deployment(deployment.id, parameters=params)  # a rerun beside it
    cli(env, "worker", "start", "--pool", "nmt", "--run-once", timeout=480)  # runs both at once

    with SyncPrefectClient(url) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
        )
        assert [r.state.type.value for r in runs] == ["COMPLETED", "COMPLETED"]
        assert {r.name for r in runs} == {f"inbox {card['pair']} {inbox}"}
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in runs])))
        messages = [log.message for log in logs]
        assert any(m.startswith(f"inbox {card['pair']} {inbox}: ") for m in messages)  # the summary
        assert "inbox: doc-1.txt -> done (4 sentences)" in messages  # nmt's log lines are forwarded
        reports = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["inbox-report"]))
        )
        assert all(f"| {name} | done | 4 |" in "".join(a.data for a in reports) for name in docs)
        assert client.read_global_concurrency_limit_by_name("gpu").active_slots == 0
        retrain = client.read_deployment_by_name("retrain/retrain-nightly")
        assert [(s.schedule.cron, s.schedule.timezone) for s in retrain.schedules] == [("0 2 * * *", "UTC")]
        assert deployment.schedules[0].schedule.timezone == "UTC"
        pipeline = client.read_deployment_by_name("pipeline-for-pair/pipeline")
        assert set(pipeline.parameters) >= {"corpus", "pair", "preset", "max_minutes"}

    outbox = tmp_path / "outbox"
    for name, text in docs.items():
        translated = (outbox / name).read_text(encoding="utf-8")
        assert translated.strip() and translated.count("\n\n") == text.count("\n\n") == 1
        assert (inbox / "done" / name).read_text(encoding="utf-8") == text
    reasons = {
        name: (inbox / "failed" / f"{name}.reason.txt").read_text() for name in ("image.bin", "latin1.txt")
    }
    assert reasons["image.bin"].startswith("binary:") and reasons["latin1.txt"].startswith("invalid_utf8:")
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["writing.txt"]  # not settled
    jobs = sorted((outbox / "jobs").glob("*/translations.parquet"))
    tables = [pq.read_table(job) for job in jobs]
    assert Counter(d for t in tables for d in t["doc_id"].to_pylist()) == dict.fromkeys(docs, 4)
    assert all(t.column("translation").null_count == 0 for t in tables)

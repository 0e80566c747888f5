"""The `gpu` slot under a server limit of 1: CUDA work runs one at a time, CPU work side by side."""

import threading
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from flows.gpu import GPU_LIMIT, gpu_slot

HOLD_SECONDS = 1.0


@pytest.fixture
def gpu_limit_of_one():
    """The README's server setup: `prefect gcl create gpu --limit 1`, removed afterwards."""
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=GPU_LIMIT, limit=1))
        try:
            yield
        finally:
            client.delete_global_concurrency_limit_by_name(GPU_LIMIT)


def most_inside_at_once(device: str, workers: int = 2) -> int:
    """How many of `workers` threads were inside gpu_slot(device) at the same moment."""
    inside, most = 0, 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with gpu_slot(device):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(HOLD_SECONDS)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return most


def test_cpu_work_takes_no_gpu_slot_and_cuda_work_takes_one(gpu_limit_of_one):
    assert most_inside_at_once("cpu") == 2
    assert most_inside_at_once("cuda:0") == 1  # the limit is live: CUDA work is serialized

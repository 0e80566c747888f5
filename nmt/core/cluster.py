"""Chunks of a stage's work run here or on a Dask cluster, their results taken in chunk order.

A stage that can run partitioned cuts its input into deterministic chunks, runs a pure
function on each (in this process, on a thread pool, or on the workers of a Dask scheduler)
and writes the results in chunk order from one place, so its output bytes do not depend on
where the chunks ran. dask.distributed (the optional `dask` extra) is imported only for a
cluster. The function travels by reference: every worker must have this project installed.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ClusterUnavailable(OSError):
    """No Dask cluster to run on: dask.distributed is not installed or the scheduler is unreachable."""


class Pending(Protocol[R]):
    """A submitted chunk: a concurrent.futures or a dask.distributed future."""

    def result(self) -> R: ...


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A client of the Dask scheduler at `address` (such as tcp://10.0.0.5:8786), closed on exit."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ClusterUnavailable(
            f"a Dask cluster ({address}) needs dask.distributed: pip install 'nmt-bahdanau[dask]'"
        ) from exc
    try:
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        yield client


def worker_threads(client: Any) -> int:
    """Threads of all the cluster's workers together (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def in_order(submit: Callable[[T], Pending[R]], chunks: Iterable[T], ahead: int) -> Iterator[R]:
    """The result of `submit(chunk)` for every chunk, in chunk order, with at most `ahead` + 1 in flight."""
    in_flight: deque[Pending[R]] = deque()
    for chunk in chunks:
        in_flight.append(submit(chunk))
        if len(in_flight) > ahead:
            yield in_flight.popleft().result()
    while in_flight:
        yield in_flight.popleft().result()


def run_chunks(fn: Callable[..., R], chunks: Iterable[T], cluster: str | None, *shared: Any) -> Iterator[R]:
    """`fn(chunk, *shared)` for every chunk, here or on the Dask cluster at `cluster`; results in chunk order.

    On a cluster `shared` is sent to every worker once, and each worker has two chunks queued.
    """
    if cluster is None:
        for chunk in chunks:
            yield fn(chunk, *shared)
        return
    with dask_client(cluster) as client:
        sent = client.scatter(list(shared), broadcast=True, hash=False) if shared else []

        def submit(chunk: T) -> Pending[R]:
            return client.submit(fn, chunk, *sent, pure=False)

        yield from in_order(submit, chunks, 2 * worker_threads(client))

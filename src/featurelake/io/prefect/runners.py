"""Where a build's chunks run: this process's threads, a local Dask cluster, or a remote Dask scheduler.

Chunks are independent (each reads its own days from bronze and replaces its own day
partitions), so they fan out through Prefect's task runner. ``FEATURELAKE_BUILD_EXECUTOR``
picks it when the flow module is imported, which is when a worker loads a deployment's flow:
``threads`` (the default), ``local`` (a multi-process Dask cluster of ``FEATURELAKE_BUILD_WORKERS``
single-threaded workers on this machine) or a scheduler address such as ``tcp://dask:8786``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TypeVar

from prefect.task_runners import ThreadPoolTaskRunner

from featurelake.settings import Settings

J = TypeVar("J")
R = TypeVar("R")


def chunk_task_runner(settings: Settings) -> Any:
    """The Prefect task runner for build chunks under these settings.

    With a memory budget and threads, chunks run one at a time: the budget is per process.
    """
    executor = settings.build_executor.strip()
    if executor in ("", "threads"):
        workers = 1 if settings.build_memory_budget is not None else max(1, settings.build_workers)
        return ThreadPoolTaskRunner(max_workers=workers)
    from prefect_dask.task_runners import DaskTaskRunner

    if executor == "local":
        # Single-threaded processes: polars parallelises inside each chunk already, and separate
        # processes keep each chunk's memory (and the GIL) apart.
        cluster = {"n_workers": max(1, settings.build_workers), "threads_per_worker": 1, "processes": True}
        return DaskTaskRunner(cluster_kwargs=cluster)
    return DaskTaskRunner(address=executor)


def chunk_mapper(settings: Settings) -> Callable[[Callable[[J], R], list[J]], list[R]]:
    """``map_chunks(function, jobs)`` for a training set's slabs, on the executor builds use.

    A plain Dask client, not a Prefect task runner: slabs are steps of one call, not tasks worth
    tracking. ``threads`` runs them one after another in this process (the budget is per
    process); ``local`` starts a cluster of ``build_workers`` single-threaded worker processes for
    the call, only when there is more than one slab; an address connects to that scheduler.
    """
    executor = settings.build_executor.strip()

    def mapped(function: Callable[[J], R], jobs: list[J]) -> list[R]:
        if executor in ("", "threads") or len(jobs) < 2:
            return [function(job) for job in jobs]
        with ExitStack() as stack:
            client = _dask_client(stack, executor, max(1, settings.build_workers))
            return list(client.gather(client.map(function, jobs, pure=False)))

    return mapped


def _dask_client(stack: ExitStack, executor: str, workers: int) -> Any:
    """A Dask client on a scheduler address, or on a local cluster of single-threaded processes; ``stack`` closes it."""
    from distributed import Client, LocalCluster

    if executor != "local":
        return stack.enter_context(Client(executor))  # type: ignore[no-untyped-call]
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return stack.enter_context(Client(stack.enter_context(cluster)))  # type: ignore[no-untyped-call]

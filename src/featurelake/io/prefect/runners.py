"""Where a build's chunks run: this process's threads, a local Dask cluster, or a remote Dask scheduler.

Chunks are independent (each reads its own days from bronze and replaces its own day
partitions), so they fan out through Prefect's task runner. ``FEATURELAKE_BUILD_EXECUTOR``
picks it when the flow module is imported, which is when a worker loads a deployment's flow:
``threads`` (the default), ``local`` (a multi-process Dask cluster of ``FEATURELAKE_BUILD_WORKERS``
single-threaded workers on this machine) or a scheduler address such as ``tcp://dask:8786``.
"""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from featurelake.settings import Settings


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

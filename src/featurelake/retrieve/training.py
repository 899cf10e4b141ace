"""Training sets joined in slabs of the spine: in this process, one slab after another, or fanned out.

One slab is the whole spine unless a memory budget or a slab count says otherwise. Each slab
reads, per feature set, only the rows of the slab's own entities in the slab's window (its
earliest time minus the TTL to its latest time), joins them point in time, and returns the
feature columns in the slab's row order. The slabs are cut from the spine in time order and
their columns gathered back into the spine's order, so the result is the one-slab result row
for row (:mod:`featurelake.core.spine_slabs` says why).

Where slabs run is the caller's choice, injected as ``map_chunks`` (this library knows no task
runner): a job names its feature sets, their pinned Delta versions and its slab, and the
function run on it takes the store, which holds only settings (pickled without their secrets),
so a worker process re-opens every table itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import polars as pl

from featurelake.core.featureset import FeatureSet
from featurelake.core.pointintime import inverse_permutation, join_as_of, time_order
from featurelake.core.spine_slabs import slab_bounds
from featurelake.io.delta.feature_tables import FeatureTableRead, read_feature_table
from featurelake.io.delta.store import DeltaStore

#: Runs a function on each job and returns the results in the jobs' order: ``map_chunks(fn, jobs)``.
ChunkMapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]
#: Widens a slab's window by one microsecond each side: window bounds are Python datetimes, which
#: drop a nanosecond spine's last digits; the join applies the exact bounds.
_MARGIN = timedelta(microseconds=1)


@dataclass(frozen=True)
class SetRequest:
    """One feature set of a training set: which features under which names, read at which Delta version."""

    spec: FeatureSet
    columns: dict[str, str]  # feature -> output column
    delta_version: int | None  # None: the latest (only when the spine is joined in one slab)


@dataclass(frozen=True)
class SlabJob:
    """One slab to join: picklable, so it can run in another process."""

    requests: tuple[SetRequest, ...]
    #: The slab's spine rows (entity keys and time only, no labels), in time order unless it is the whole spine.
    spine: pl.DataFrame
    spine_time: str


@dataclass(frozen=True)
class SlabRead:
    """What a slab read of one feature set: the version, and the files and bytes it opened of those there were."""

    table_uri: str
    delta_version: int
    files_read: int
    files_total: int
    bytes_read: int
    bytes_total: int


@dataclass(frozen=True)
class SlabResult:
    """A slab's feature columns, one row per slab row in its order, and what it read per feature set."""

    features: pl.DataFrame
    reads: tuple[SlabRead, ...]


def in_process(function: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
    """The default chunk mapper: one job after another in this process, so one slab's memory at a time."""
    return [function(job) for job in jobs]


def join_slab(store: DeltaStore, job: SlabJob) -> SlabResult:
    """Read each feature set's rows the slab can reach and join them as of each slab row's time."""
    columns, reads = [], []
    for request in job.requests:
        spec = request.spec
        left = job.spine.select(*spec.entity_keys, job.spine_time)
        table = read_feature_table(
            store,
            spec,
            delta_version=request.delta_version,
            columns=list(request.columns),
            entities=left.select(spec.entity_keys).unique(),
            window=window(left[job.spine_time], spec.ttl),
        )
        joined = join_as_of(
            left,
            table.frame,
            keys=spec.entity_keys,
            spine_time=job.spine_time,
            feature_time=spec.event_time,
            ttl=spec.ttl,
            columns=request.columns,
            features_in_order=True,  # read_feature_table returns times ascending within each entity
        )
        columns.append(joined.select(request.columns.values()))
        reads.append(_slab_read(table))
    return SlabResult(pl.concat(columns, how="horizontal"), tuple(reads))


def window(times: pl.Series, ttl: timedelta) -> tuple[datetime, datetime]:
    """The event times a spine's rows can reach: its earliest time minus the TTL to its latest time (UTC)."""
    utc = times.dt.convert_time_zone("UTC")
    earliest, latest = utc.min(), utc.max()
    assert isinstance(earliest, datetime)
    assert isinstance(latest, datetime)
    return earliest - ttl - _MARGIN, latest + _MARGIN


def _slab_read(table: FeatureTableRead) -> SlabRead:
    return SlabRead(
        table.table_uri, table.delta_version, table.files_read, table.files_total, table.bytes_read, table.bytes_total
    )


def join_in_slabs(
    store: DeltaStore,
    spine: pl.DataFrame,
    spine_time: str,
    requests: Sequence[SetRequest],
    slabs: int,
    map_chunks: ChunkMapper = in_process,
) -> tuple[pl.DataFrame, list[list[SlabRead]]]:
    """The feature columns of every request in spine order, and each request's reads, one per slab.

    With more than one slab, every request must name its Delta version, so that all slabs read
    the same one.
    """
    keys = list(dict.fromkeys(k for r in requests for k in r.spec.entity_keys))
    narrow = spine.select(*keys, spine_time)
    order = time_order(narrow[spine_time]) if slabs > 1 else None
    if order is not None:
        narrow = narrow.select(pl.all().gather(order))
    assert slabs == 1 or all(r.delta_version is not None for r in requests), "slabs must read pinned versions"
    jobs = [
        SlabJob(tuple(requests), narrow.slice(start, end - start), spine_time)
        for start, end in slab_bounds(narrow.height, slabs)
    ]
    results: list[SlabResult] = map_chunks(partial(join_slab, store), jobs)
    features = pl.concat([result.features for result in results])
    if order is not None:
        features = features.select(pl.all().gather(inverse_permutation(order)))
    return features, [[result.reads[i] for result in results] for i in range(len(requests))]


def read_summary(reads: list[SlabRead]) -> dict[str, Any]:
    """One feature set's reads over all slabs for the manifest: files and bytes opened (summed) of those there were.

    A file a TTL overlap puts in two slabs' windows counts twice in ``files_read``: it was read
    twice. ``files_total`` and ``bytes_total`` are the pinned version's own.
    """
    return {
        "table_uri": reads[0].table_uri,
        "delta_version": reads[0].delta_version,
        "chunks": len(reads),
        "files_read": sum(r.files_read for r in reads),
        "files_total": max(r.files_total for r in reads),
        "bytes_read": sum(r.bytes_read for r in reads),
        "bytes_total": max(r.bytes_total for r in reads),
    }

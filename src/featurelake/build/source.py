"""What a build reads from bronze: the latest bronze version, and the rows and raw objects of a chunk's window.

A chunk reads its days plus the feature set's lookback, and only the columns its features need,
so trailing windows start full. The raw objects (key, ETag) of the rows it read are its lineage.
"""

from __future__ import annotations

import polars as pl

from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.core.increments import DayChunk, source_window
from featurelake.core.naming import bronze_path
from featurelake.core.ties import BRONZE_ORDER
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY
from featurelake.io.delta.store import DeltaStore, Table
from featurelake.io.delta.time_windows import distinct_in_window, read_window


def bronze_version_of(store: DeltaStore, spec: FeatureSet) -> int:
    """The latest Delta version of the bronze table a build reads.

    Raises:
        FileNotFoundError: naming the source when nothing was ingested yet.
    """
    path = bronze_path(spec.source.name)
    version = store.version(path)
    if version is None:
        raise FileNotFoundError(
            f"feature set {spec.ref}: bronze table {store.uri(path)} "
            f"does not exist yet; run the ingest flow for source {spec.source.name!r} first"
        )
    return version


def read_source(store: DeltaStore, spec: FeatureSet) -> tuple[pl.DataFrame, int]:
    """All bronze rows of the source, with the Delta version they were read at (tests and tools; builds read windows).

    Raises:
        FileNotFoundError: naming the source when nothing was ingested yet.
    """
    version = bronze_version_of(store, spec)
    return store.read(bronze_path(spec.source.name), version), version


def read_chunk_source(
    store: DeltaStore, spec: FeatureSet, bronze_version: int, chunk: DayChunk, bronze: Table | None = None
) -> pl.DataFrame:
    """The bronze rows a chunk's features read (only the columns they need): its days plus the lookback.

    Also the bronze ingest time and object key, which decide among rows sharing entity keys and
    event time (the tie rule, :mod:`featurelake.core.ties`). ``bronze`` is the table already
    loaded at ``bronze_version``, when the caller has it.
    """
    since, until = source_window(spec, chunk)
    table = bronze or store.existing(bronze_path(spec.source.name), bronze_version)
    return read_window(table, spec.event_time, since, until, list(spec.source_columns()), optional=BRONZE_ORDER)


def chunk_source_objects(bronze: Table, spec: FeatureSet, chunk: DayChunk) -> pl.DataFrame:
    """The raw objects (key, ETag) whose rows a chunk read: its lineage."""
    since, until = source_window(spec, chunk)
    return distinct_in_window(bronze, spec.event_time, since, until, [SOURCE_KEY, SOURCE_ETAG])


class ErasedSinceReadError(RuntimeError):
    """Bronze was erased from after a build read it: publishing what it computed could bring a subject back."""


def refuse_if_erased_since(store: DeltaStore, spec: FeatureSet, bronze_version: int) -> None:
    """Stop a build whose bronze version an erasure has since superseded, before it writes anything.

    Raises:
        ErasedSinceReadError: naming the erasure request (never the subject); the erasure's own
            rebuild, or the next build, publishes the erased bronze instead.
    """
    path = bronze_path(spec.source.name)
    latest = store.version(path)
    if latest is None or latest <= bronze_version:
        return
    for commit in store.history(path, limit=latest - bronze_version):
        if int(commit["version"]) > bronze_version and commit.get(commits.ERASURE_REQUEST):
            raise ErasedSinceReadError(
                f"{spec.ref}: bronze {spec.source.name} was erased from (request {commit[commits.ERASURE_REQUEST]}, "
                f"version {commit['version']}) after this build read version {bronze_version}; nothing was written, "
                "the next build publishes the erased bronze"
            )

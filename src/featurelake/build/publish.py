"""Feature table publishes: one Delta commit per publish, idempotent per bronze version.

The bronze Delta version a build consumed is the natural monotonic version of the build, so
it is recorded as the app transaction of the publish: a retried build of the same input finds
it and skips the write.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path
from featurelake.io.delta.store import DeltaStore


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


def published_commit(store: DeltaStore, spec: FeatureSet, bronze_version: int) -> dict[str, Any] | None:
    """The feature table commit that already published this bronze version, if any.

    Its ``version`` is the Delta version and its metadata carries the audit of that publish.
    """
    applied = store.app_version(spec.table_path, commits.build_app_id(spec))
    if applied is None or applied < bronze_version:
        return None
    commit = store.find_commit(spec.table_path, commits.BRONZE_VERSION, str(bronze_version))
    if commit is None or commits.undone_by_rollback(store.history(spec.table_path), int(commit["version"])):
        return None  # rolled back: announcing it again would retrain on data someone withdrew
    return commit

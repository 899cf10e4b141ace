"""Feature tables and the online store after the subject's rows left bronze.

Every feature set reading the source publishes the post-erasure bronze version through the
ordinary publish protocol and gate (:func:`featurelake.build.rebuild.rebuild`): the days the
deleted bronze files reached are recomputed, so the subject's own feature rows disappear and
aggregates over other entities no longer count the subject. The publish carries the erasure
request in its metadata.

The online store then serves that version: the incremental materialization rewrites the
entities of the changed days and leaves a tombstone for an entity with no row left. A
tombstone keeps its key, and the key of an erased customer is personal data, so the erasure
deletes those items outright.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from featurelake.build.rebuild import Rebuilt, rebuild
from featurelake.core.featureset import FeatureSet
from featurelake.core.online import entity_ids
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.store import CommitConflictError, DeltaStore
from featurelake.serve.materialize import materialize
from featurelake.settings import Settings

#: How many times a feature set's rebuild runs before a lost commit race is the erasure's error.
REBUILD_ATTEMPTS = 4


@dataclass(frozen=True)
class OnlineErased:
    """One online table after the erasure: the version it serves, items deleted."""

    feature_set: str
    online_table: str
    delta_version: int
    items_deleted: int


def rebuild_all(
    settings: Settings, store: DeltaStore, specs: tuple[FeatureSet, ...], metadata: Mapping[str, str], actor: str
) -> list[Rebuilt]:
    """Publish the latest bronze version of every feature set in ``specs`` (already published: left as is).

    A rebuild that loses a commit race (a concurrent build wrote the same days) runs again on
    the new snapshot: its plan picks up what is left, so the publish still happens once.
    """
    return [_rebuilt(settings, store, spec, metadata, actor) for spec in specs]


def _rebuilt(
    settings: Settings, store: DeltaStore, spec: FeatureSet, metadata: Mapping[str, str], actor: str
) -> Rebuilt:
    for attempt in range(1, REBUILD_ATTEMPTS + 1):
        try:
            return rebuild(settings, store, spec, metadata, actor)
        except CommitConflictError:
            if attempt == REBUILD_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.5, 2.0) * attempt)  # jitter, not secrecy: nosec B311
    raise AssertionError("unreachable")


def erase_online(
    store: DeltaStore, online: OnlineStore, specs: tuple[FeatureSet, ...], rows: pl.DataFrame
) -> list[OnlineErased]:
    """Serve the rebuilt versions online and delete the items of the subject's entities that have no row left.

    ``rows`` are the subject's source rows (their entity keys name the items). Feature sets
    without an online table are skipped: nothing was ever served.
    """
    erased: list[OnlineErased] = []
    for spec in specs:
        if not online.exists(spec):
            continue
        result = materialize(store, online, spec)
        entities = entity_ids(rows.select(spec.entity_keys).unique(), spec.entity_keys) if rows.height else []
        table = online.table_name(spec)
        with online.lease(table) as lease:
            deleted = online.delete_absent(table, entities, lease)
        erased.append(OnlineErased(spec.ref, table, result.delta_version, deleted))
    return erased

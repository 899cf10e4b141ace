"""Materialization: a published Delta version's latest row per entity, written into the online store.

Incremental (the default) rewrites only the entities whose rows changed since the last version a
materialization completed (the key values of the files one snapshot holds and the other does not,
:mod:`featurelake.io.delta.changes`), so a skipped or failed run is caught up by the next; full
rewrites every entity of the version and tombstones the ones the online table holds but the
version does not (after a rollback or a backfill that removed them). Either way the values are
read with the same reader and the same "latest row per entity" rule as ``FeatureStore.lookup``
at that version, so the online store answers what the offline store would. Writes are
conditional (newer Delta version wins) and a run of a version older than the last completed one
writes nothing, so repeated, concurrent and out-of-order runs converge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from featurelake.core.events import OnlineStoreMaterialized
from featurelake.core.featureset import FeatureSet
from featurelake.core.fingerprint import fingerprint
from featurelake.core.online import entity_ids, to_items, tombstone
from featurelake.io.aws.online_lease import Lease
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.changes import changed_entities
from featurelake.io.delta.feature_tables import read_feature_table
from featurelake.io.delta.store import DeltaStore

Mode = Literal["incremental", "full"]


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization did: which version went where, and the counts that reconcile."""

    feature_set: str
    feature_set_version: int
    table_uri: str
    delta_version: int
    online_table: str
    mode: Mode
    #: Entities whose item was offered: those with a row at the version plus those tombstoned.
    entities_considered: int
    items_written: int
    items_skipped: int
    tombstones: int

    def event(self) -> OnlineStoreMaterialized:
        """The ``featurelake.online-store.materialized`` payload."""
        return OnlineStoreMaterialized(
            feature_set=self.feature_set,
            feature_set_version=self.feature_set_version,
            table_uri=self.table_uri,
            delta_version=self.delta_version,
            online_table=self.online_table,
            entities_considered=self.entities_considered,
            items_written=self.items_written,
            items_skipped=self.items_skipped,
            mode=self.mode,
        )


def materialize(
    store: DeltaStore,
    online: OnlineStore,
    spec: FeatureSet,
    *,
    delta_version: int | None = None,
    mode: Mode = "incremental",
) -> MaterializeResult:
    """Write ``spec``'s latest values at ``delta_version`` (default: the latest) into its online table.

    Raises:
        FileNotFoundError: when the feature set has no table yet.
    """
    version = delta_version if delta_version is not None else store.version(spec.table_path)
    if version is None:
        raise FileNotFoundError(f"feature set {spec.ref} has no table yet; build it before materializing it")
    table = online.ensure_table(spec)
    with online.lease(table) as lease:  # one writer at a time: the watermark and the writes agree
        return _materialize_leased(store, online, spec, version, table, mode, lease)


def _materialize_leased(
    store: DeltaStore, online: OnlineStore, spec: FeatureSet, version: int, table: str, mode: Mode, lease: Lease
) -> MaterializeResult:
    """The work of :func:`materialize`, once this run holds the table's lease."""
    done = online.watermark(table)
    if done is not None and (done > version or (done == version and mode == "incremental")):
        return _result(store, spec, version, table, mode, 0, 0, 0, 0)  # served already, or something newer is
    changed = changed_entities(store, spec, done, version) if mode == "incremental" and done is not None else None
    effective: Mode = "incremental" if changed is not None else "full"
    if changed is not None and changed.is_empty():
        online.complete(table, version)
        return _result(store, spec, version, table, effective, 0, 0, 0, 0)
    read = read_feature_table(store, spec, delta_version=version, entities=changed)
    latest = read.frame.unique(list(spec.entity_keys), keep="last")  # reads give times ascending per entity
    stamp, code = datetime.now(UTC), fingerprint(spec)
    items = to_items(
        latest, spec.entity_keys, spec.event_time, spec.feature_names,
        delta_version=version, fingerprint=code, materialized_at=stamp,
    )  # fmt: skip
    present = set(entity_ids(latest, spec.entity_keys))
    gone = _gone(online, table, changed, spec, present)
    items += [tombstone(e, delta_version=version, fingerprint=code, materialized_at=stamp) for e in sorted(gone)]
    counts = online.write(table, items, lease)
    online.complete(table, version)
    return _result(store, spec, version, table, effective, len(items), counts.written, counts.skipped, len(gone))


def _gone(
    online: OnlineStore, table: str, changed: pl.DataFrame | None, spec: FeatureSet, present: set[str]
) -> set[str]:
    """Entities to tombstone: changed ones without a row now, or (full) every held one the version lacks."""
    candidates = online.entities(table) if changed is None else set(entity_ids(changed, spec.entity_keys))
    return candidates - present


def _result(
    store: DeltaStore,
    spec: FeatureSet,
    version: int,
    table: str,
    mode: Mode,
    considered: int,
    written: int,
    skipped: int,
    tombstones: int,
) -> MaterializeResult:
    counts = (considered, written, skipped, tombstones)
    return MaterializeResult(spec.name, spec.version, store.uri(spec.table_path), version, table, mode, *counts)

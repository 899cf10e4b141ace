"""Rollback of a feature table to an earlier version: a Delta restore, audited and announced.

A rollback is a new commit that makes an earlier version current again, so it is itself in the
trail (actor, reason, version restored) and can be undone the same way; readers pinned to any
version still get what they got before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from featurelake.core import commits, events
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta import maintenance
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.io.revision import code_revision
from featurelake.serve.materialize import MaterializeResult, materialize
from featurelake.settings import Settings


@dataclass(frozen=True)
class RollbackResult:
    """A restore that happened: from which version, to which, as which new version, by whom and why."""

    feature_set: str
    table_uri: str
    previous_version: int
    restored_to: int
    new_version: int
    actor: str
    reason: str
    files_restored: int
    files_removed: int
    #: CHECK constraints the current version has and the restored one had not: the restore drops them.
    dropped_constraints: tuple[str, ...] = ()


def rollback(
    store: DeltaStore,
    spec: FeatureSet,
    to_version: int,
    *,
    actor: str,
    reason: str,
    extra_metadata: Mapping[str, str] | None = None,
) -> RollbackResult:
    """Make ``to_version`` the current content of the feature table again, as a new audited commit.

    Nothing is rewritten: the restore commit re-adds the old version's files and removes the
    newer ones, so readers pinned to any version still get what they got before. The commit
    records ``featurelake.operation=rollback``, the actor, the reason and both versions;
    ``extra_metadata`` lets a flow add its run id. Announce it with :func:`announce_rollback`.

    Raises:
        ValueError: for a blank actor or reason, a version the table does not have, the current
            version, or a version whose files were vacuumed.
        FileNotFoundError: when the feature table was never published.
    """
    if not actor.strip() or not reason.strip():
        raise ValueError(f"rollback of {spec.ref}: name who rolls back (actor) and why (reason) for the audit trail")
    table = store.existing(spec.table_path)
    current = table.version()
    _check_target(spec, store.uri(spec.table_path), to_version, current)
    target_constraints = maintenance.constraints(store.existing(spec.table_path, to_version))
    dropped = tuple(sorted(set(maintenance.constraints(table)) - set(target_constraints)))
    metadata = {
        **(extra_metadata or {}),
        commits.OPERATION: commits.Operation.ROLLBACK,
        commits.FEATURE_SET: spec.ref,
        commits.ACTOR: actor,
        commits.REASON: reason,
        commits.RESTORED_TO: str(to_version),
        commits.ROLLED_BACK_FROM: str(current),
        commits.CODE_REVISION: code_revision(),
    }
    metrics = maintenance.restore(table, to_version, metadata)
    return RollbackResult(
        feature_set=spec.ref,
        table_uri=store.uri(spec.table_path),
        previous_version=current,
        restored_to=to_version,
        new_version=table.version(),
        actor=actor,
        reason=reason,
        files_restored=int(metrics.get("numRestoredFile", 0)),
        files_removed=int(metrics.get("numRemovedFile", 0)),
        dropped_constraints=dropped,
    )


def _check_target(spec: FeatureSet, table_uri: str, to_version: int, current: int) -> None:
    """Refuse a rollback that would do nothing or name a version that never existed."""
    if to_version == current:
        raise ValueError(f"{spec.ref} ({table_uri}) is already at version {current}: nothing to roll back")
    if not 0 <= to_version < current:
        raise ValueError(
            f"{spec.ref} ({table_uri}) has no version {to_version}: its versions are 0..{current}; "
            f"see `featurelake history {spec.ref}`"
        )


def announce_rollback(settings: Settings, spec: FeatureSet, result: RollbackResult) -> str:
    """Emit ``featurelake.feature-set.rolled-back``; the new Delta version makes its id deterministic.

    The discriminator is the table URI with the new version: the resource id names only the
    feature set, and two lakes (say staging and production) reporting to one Prefect server
    would otherwise give their rollbacks the same id, and Prefect would drop the second.

    Returns:
        The event id.
    """
    table_uri = settings.table_uri(spec.table_path)
    payload = events.FeatureSetRolledBack(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        restored_to_version=result.restored_to,
        new_delta_version=result.new_version,
        reason=result.reason,
        actor=result.actor,
    )
    emitted = emit(
        events.FEATURE_SET_ROLLED_BACK,
        feature_set_resource_id(spec),
        payload,
        events.at(table_uri, result.new_version),
        labels={events.TABLE_URI_LABEL: table_uri, events.DELTA_VERSION_LABEL: str(result.new_version)},
    )
    return str(emitted)


def rematerialize_online(
    store: DeltaStore, online: OnlineStore, spec: FeatureSet, result: RollbackResult
) -> MaterializeResult | None:
    """Serve the restored content online: a full write at the rollback's new version, if the set is online.

    The new version, not the restored one: its content is the restored version's, and writes are
    monotonic in the Delta version, so items stamped with the restored (older) version would be
    skipped as older than what the store holds. Entities the restored version lacks get
    tombstones. None when the feature set has no online table (never materialized: nothing to fix).
    """
    if not online.exists(spec):
        return None
    return materialize(store, online, spec, delta_version=result.new_version, mode="full")

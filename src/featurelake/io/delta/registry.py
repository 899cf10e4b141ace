"""The feature registry: a Delta table in the lake recording every feature set version.

Append-only: each ``apply`` (or first build of a version) appends one row per change, so the
table's history is the audit trail of definitions. The current state of a version is its
newest row; ``created_at`` is when the version was first registered.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import polars as pl

from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.core.plan import ACTIVE, RETIRED, Change, ChangeKind, Plan, RegistryRecord, plan_changes, record_for
from featurelake.io.delta.store import DeltaStore, Table

REGISTRY_PATH = "_registry/feature_sets"
_RECORD_FIELDS = [f.name for f in dataclasses.fields(RegistryRecord)]


class RegistryMismatchError(RuntimeError):
    """Code defines a feature set version whose logic differs from the registered one."""


class FeatureRegistry:
    """Read and append registry rows in one lake.

    The current records are kept per registry version: a long-lived registry (a ``FeatureStore``'s,
    checking every request against it) loads the table's log once per call to learn its version
    and reads the rows again only when a commit changed them.
    """

    def __init__(self, store: DeltaStore) -> None:
        self._store = store
        self._records: tuple[tuple[str, int] | None, list[RegistryRecord]] | None = None

    @property
    def uri(self) -> str:
        """Where the registry table lives."""
        return self._store.uri(REGISTRY_PATH)

    def history(self) -> pl.DataFrame:
        """Every registry row ever written, oldest first (empty when nothing is registered)."""
        return _rows(self._store.table(REGISTRY_PATH))

    def current(self) -> pl.DataFrame:
        """One row per feature set version: its newest state, with when it was first registered."""
        return _current(self.history())

    def records(self) -> list[RegistryRecord]:
        """The current records, as the planner reads them.

        The version and the rows come from one load of the table, so the records cached are
        those of the version they are kept under: a registration committed since the last call
        moves the version and is read by this one. The table's id is part of the key, so a
        registry deleted and written again is never mistaken for the one cached.
        """
        table = self._store.table(REGISTRY_PATH)
        key = None if table is None else (str(table.metadata().id), table.version())
        if self._records is None or self._records[0] != key:
            self._records = (key, _records(_current(_rows(table))))
        return list(self._records[1])

    def plan(self, specs: list[FeatureSet], code_revision: str) -> Plan:
        """The diff between these specs and the registry."""
        return plan_changes(specs, self.records(), code_revision)

    def apply(self, plan: Plan, code_revision: str, actor: str) -> int:
        """Record a plan's pending changes in one commit; returns how many rows were written.

        Raises:
            RegistryMismatchError: when the plan has errors; nothing is written.
        """
        if plan.errors:
            raise RegistryMismatchError("\n".join(f"{c.ref}: {c.detail}" for c in plan.errors))
        rows = [_row(change, code_revision) for change in plan.pending]
        if not rows:
            return 0
        # Rows are ordered by the registry version they were written after, not by the writer's
        # clock: a laptop whose clock is behind must not resurrect a state it just replaced.
        latest = self._store.version(REGISTRY_PATH)
        sequence = 0 if latest is None else latest + 1
        frame = pl.DataFrame(rows).with_columns(
            pl.lit(sequence, dtype=pl.Int64).alias("sequence"),
            pl.lit(datetime.now(UTC)).dt.cast_time_unit("us").alias("recorded_at"),
        )
        metadata = {
            commits.OPERATION: commits.Operation.REGISTRY_APPLY,
            commits.ACTOR: actor,
            commits.CODE_REVISION: code_revision,
        }
        self._store.write(REGISTRY_PATH, frame, mode="append", metadata=metadata)
        return len(rows)

    def ensure_registered(self, spec: FeatureSet, code_revision: str, actor: str) -> RegistryRecord:
        """Register a new version on its first build; refuse a build of changed, unbumped logic.

        Raises:
            RegistryMismatchError: saying what changed and what to do.
        """
        plan = plan_changes([spec], [r for r in self.records() if r.name == spec.name], code_revision)
        change = next(c for c in plan.changes if c.ref == spec.ref)
        if change.is_error:
            raise RegistryMismatchError(f"{spec.ref}: {change.detail}")
        if change.record is not None and change.kind is not ChangeKind.RESTORED:
            return change.record  # registered with this logic already (metadata drift is apply's business)
        self.apply(Plan((change,)), code_revision, actor)
        return record_for(spec, ACTIVE, code_revision)


def _row(change: Change, code_revision: str) -> dict[str, object]:
    if change.kind is ChangeKind.REMOVED:
        assert change.record is not None
        record = dataclasses.replace(change.record, status=RETIRED, code_revision=code_revision)
    else:
        assert change.spec is not None
        record = record_for(change.spec, ACTIVE, code_revision)
    return dataclasses.asdict(record)


def _rows(table: Table | None) -> pl.DataFrame:
    """Every row of a registry version, oldest first (empty when there is no registry yet)."""
    if table is None:
        return pl.DataFrame()
    rows = pl.from_arrow(table.to_pyarrow_table())
    assert isinstance(rows, pl.DataFrame)
    return rows.sort("sequence", "recorded_at", maintain_order=True)


def _current(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per feature set version: its newest state, with when it was first registered."""
    if rows.is_empty():
        return rows
    return (
        rows.group_by("name", "version", maintain_order=True)
        .agg(pl.all().last(), pl.col("recorded_at").first().alias("created_at"))
        .sort("name", "version")
    )


def _records(current: pl.DataFrame) -> list[RegistryRecord]:
    return [
        # Columns added after a row was written are null (or absent) there: the field's default applies.
        RegistryRecord(**{k: row[k] for k in _RECORD_FIELDS if row.get(k) is not None})
        for row in current.iter_rows(named=True)
    ]

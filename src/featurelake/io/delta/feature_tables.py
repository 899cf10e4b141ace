"""Feature tables: partitioned writes, and reads pinned to a version or a time, pruned by day.

Tables are partitioned by the UTC day of their event time and every file is written sorted by
entity keys and event time. Reading the files of a pin day by day therefore yields rows whose
times ascend within every entity, which is the order point-in-time joins need; the join checks
that order rather than trusting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable

from featurelake.core import commits
from featurelake.core.featureset import PARTITION_COLUMN, FeatureSet, with_partition
from featurelake.io.delta.store import AppTransaction, DeltaStore
from featurelake.io.delta.time_windows import file_spans

if TYPE_CHECKING:
    pass

#: Commits looked at first for a publish at or before a read's version; the whole log only when none is there.
_RECENT_COMMITS = 20


class UnpublishedVersionError(ValueError):
    """A read of a feature table version before its first publish: such a version holds no published rows."""


@dataclass(frozen=True)
class FeatureTableRead:
    """Rows of one feature set version at one Delta version."""

    spec: FeatureSet
    frame: pl.DataFrame
    table_uri: str
    delta_version: int


def read_feature_table(
    store: DeltaStore,
    spec: FeatureSet,
    *,
    delta_version: int | None = None,
    as_of: datetime | None = None,
    columns: list[str] | None = None,
    days: tuple[date, date] | None = None,
) -> FeatureTableRead:
    """Read a feature table at a pin (latest by default), day partitions in ascending order.

    ``columns`` defaults to every feature; keys and event time are always read. ``days`` keeps
    only partitions in the inclusive range, so rows outside it are never fetched.

    Raises:
        FileNotFoundError: naming the feature set when it was never published.
        UnpublishedVersionError: when the version read (pinned, by time, or the latest) comes
            before the table's first publish, naming the first published version.
    """
    table = store.table(spec.table_path, delta_version, as_of)
    if table is None:
        raise FileNotFoundError(
            f"feature set {spec.ref} has no table at {store.uri(spec.table_path)} yet; build or backfill it first"
        )
    _require_published(store, spec, table, as_of, is_latest=delta_version is None and as_of is None)
    wanted = [*spec.key_columns, *(columns if columns is not None else spec.feature_names)]
    files = _files_by_day(table.get_add_actions(flatten=True), days)
    import pyarrow.dataset as ds  # pandas and more: ~0.9 s, only when a table is read

    dataset = table.to_pyarrow_dataset()
    fragments = {fragment.path: fragment for fragment in dataset.get_fragments()}
    ordered = ds.FileSystemDataset(
        [fragments[path] for path in files], dataset.schema, dataset.format, dataset.filesystem
    )
    arrow = ordered.to_table(columns=wanted)  # one parallel scan; rows come back in fragment order
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    return FeatureTableRead(spec, frame, store.uri(spec.table_path), table.version())


def _require_published(
    store: DeltaStore, spec: FeatureSet, table: DeltaTable, as_of: datetime | None, *, is_latest: bool = False
) -> None:
    """Refuse a version before the first publish: it would silently read no rows, or half-built ones.

    A build's first commits create the empty table and add its CHECK constraints (a build of
    several chunks then writes chunks that are not yet published). A table no build ever
    published is refused while it is empty; rows written there by other means (a test fixture,
    a migration) are what it holds. ``is_latest`` says ``table`` was loaded at the table's latest
    version, so its log can be read without loading the table again.
    """
    version = table.version()
    if _is_publish(store, spec, version, table if is_latest else None) or _published(store, spec, version):
        return
    latest = store.history(spec.table_path)
    first = min((int(c["version"]) for c in latest if commits.is_publish(c)), default=None)
    if first is None and _rows(table):
        return
    read = f"{spec.ref} version {version}" + (f" (its version at {as_of.isoformat()})" if as_of else "")
    held = [c for c in reversed(latest) if int(c["version"]) <= version]  # oldest first
    kinds = ", ".join(dict.fromkeys(commits.operation_of(c) or str(c.get("operation", "?")).lower() for c in held))
    if first is None:
        raise UnpublishedVersionError(
            f"{spec.ref} has no publish yet: {read} holds only the table's {kinds} commits, no published rows; "
            "build it first (the build-features deployment), then read it"
        )
    raise UnpublishedVersionError(
        f"{read} comes before the first publish, version {first}: it holds only the table's {kinds} commits, "
        f"no published rows; read version {first} or later (`featurelake history {spec.ref}` lists the publishes)"
    )


def _rows(table: DeltaTable) -> int:
    """The rows of the loaded version, from the log's file statistics."""
    actions = pa.table(table.get_add_actions(flatten=True))
    return int(pc.sum(actions["num_records"]).as_py() or 0) if actions.num_rows else 0


def _is_publish(store: DeltaStore, spec: FeatureSet, version: int, latest: DeltaTable | None) -> bool:
    """True when the commit at ``version`` is itself a publish: the usual read, decided from one commit.

    Read from ``latest`` (the table loaded at its latest version, loaded here when None), only
    the commits from the newest down to ``version``. delta-rs reads those from the newest commit
    in storage but numbers them down from the loaded version, so more commits than asked for mean
    that a writer committed since the load: the numbers are then wrong, and the answer is left to
    :func:`_published`, which loads the log afresh.
    """
    latest = latest if latest is not None else store.table(spec.table_path)
    if latest is None:
        return False
    reach = max(latest.version() - version, 0) + 1
    log = latest.history(reach)
    return len(log) == reach and int(log[-1]["version"]) == version and commits.is_publish(log[-1])


def _published(store: DeltaStore, spec: FeatureSet, version: int) -> bool:
    """True when a publish is at or before ``version`` (the newest commits first: the usual case).

    The log is read from the latest version: delta-rs numbers the history of a table loaded at
    an older version as if it were the latest.
    """
    recent = store.history(spec.table_path, _RECENT_COMMITS)
    if any(commits.is_publish(c) and int(c["version"]) <= version for c in recent):
        return True
    if len(recent) < _RECENT_COMMITS:
        return False
    return any(commits.is_publish(c) and int(c["version"]) <= version for c in store.history(spec.table_path))


def published_span(store: DeltaStore, spec: FeatureSet, delta_version: int) -> tuple[datetime, date] | None:
    """The first event time and the last day of a feature table's published rows at a version.

    None when the version holds no rows or comes before the first publish. Read from the log
    (file statistics and partition values), not from the rows.
    """
    table = store.table(spec.table_path, delta_version)
    if table is None or not _published(store, spec, delta_version):
        return None
    spans = file_spans(table, spec.event_time).filter(pl.col("rows") > 0)
    days = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(days, pl.DataFrame)
    first, last = spans["min_time"].min(), days[f"partition.{PARTITION_COLUMN}"].max() if days.height else None
    if not isinstance(first, datetime) or last is None:
        return None
    return first, last if isinstance(last, date) else date.fromisoformat(str(last))


def _files_by_day(add_actions: Any, days: tuple[date, date] | None) -> list[str]:
    """The table's data files ordered by partition day (then by path), optionally within a range."""
    actions = pl.from_arrow(pa.table(add_actions))
    assert isinstance(actions, pl.DataFrame)
    day = pl.col(f"partition.{PARTITION_COLUMN}")
    if days is not None:
        actions = actions.filter(day.is_between(days[0], days[1]))
    return actions.sort(day, "path")["path"].to_list()


def write_feature_table(
    store: DeltaStore,
    spec: FeatureSet,
    features: pl.DataFrame,
    *,
    metadata: Mapping[str, Any],
    days: tuple[date | None, date | None] | None = None,
    app_transaction: AppTransaction | None = None,
) -> int:
    """Publish feature rows in one commit: the whole table, or only the days in ``days``.

    A day-range write replaces exactly those partitions (rows outside the range are refused by
    delta-rs, so a bad filter cannot clobber other days); a None bound leaves that side open.
    """
    # Keys are unique per row, so a stable sort would give the same order, slower. One chunk:
    # delta-rs's partitioned writer interleaves the chunks of a many-chunk table within a file,
    # and readers rely on every file being sorted (bench: 90 of 90 files unsorted without it).
    frame = with_partition(spec, features).lazy().sort([*spec.entity_keys, spec.event_time]).collect().rechunk()
    predicate = day_predicate(*days) if days is not None else None
    return store.write(
        spec.table_path,
        frame,
        mode="overwrite",
        metadata=metadata,
        predicate=predicate,
        app_transaction=app_transaction,
        partition_by=[PARTITION_COLUMN],
    )


def day_predicate(first: date | None, last: date | None) -> str | None:
    """The Delta predicate selecting day partitions ``first..last`` (inclusive; None: unbounded)."""
    bounds = [f"{PARTITION_COLUMN} >= '{first.isoformat()}'"] if first is not None else []
    bounds += [f"{PARTITION_COLUMN} <= '{last.isoformat()}'"] if last is not None else []
    return " AND ".join(bounds) or None


def ensure_check_constraints(
    store: DeltaStore, spec: FeatureSet, constraints: Mapping[str, str], schema_of: pl.DataFrame
) -> list[str]:
    """Add the CHECK constraints the table lacks (one ALTER commit, only when some are missing).

    Called before a publish, so that the publish stays the table's latest commit; a missing
    table is created empty first (with ``schema_of``'s columns and the day partitioning).
    delta-rs checks the existing rows when a constraint is added and every later write against
    all of them. Returns the names added.
    """
    table = store.existing_or_created_empty(spec.table_path, with_partition(spec, schema_of), [PARTITION_COLUMN])
    present = {
        k.removeprefix("delta.constraints.")
        for k in table.metadata().configuration
        if k.startswith("delta.constraints.")
    }
    missing = {name: expression for name, expression in constraints.items() if name.lower() not in present}
    if missing:
        properties = CommitProperties(
            custom_metadata={commits.OPERATION: commits.Operation.ADD_CONSTRAINTS, commits.FEATURE_SET: spec.ref}
        )
        table.alter.add_constraint(missing, commit_properties=properties)
    return sorted(missing)

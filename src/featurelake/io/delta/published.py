"""Which versions of a feature table are published: reads refuse the versions before the first publish.

A build's first commits create the empty table and add its constraints, and a build of several
chunks writes chunk commits before the marker commit that publishes them (:mod:`featurelake.core.commits`).
Reading one of those versions would silently return no rows or half-built ones.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from featurelake.core import commits
from featurelake.core.featureset import PARTITION_COLUMN, FeatureSet
from featurelake.io.delta.store import DeltaStore
from featurelake.io.delta.time_windows import file_spans

#: Commits looked at first for a publish at or before a read's version; the whole log only when none is there.
_RECENT_COMMITS = 20


class UnpublishedVersionError(ValueError):
    """A read of a feature table version before its first publish: such a version holds no published rows."""


def require_published(
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
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    first, last = spans["min_time"].min(), _last_day(actions, spec)
    if not isinstance(first, datetime) or last is None:
        return None
    return first, last


def _last_day(actions: pl.DataFrame, spec: FeatureSet) -> date | None:
    """The last ``event_date`` of the snapshot's rows: its partition value or file statistics, by layout.

    A file without statistics on ``event_date`` (a table of more than 32 columns written before
    the layout put it first) falls back to the UTC day of its last event time.
    """
    if not actions.height:
        return None
    partition, stats, times = f"partition.{PARTITION_COLUMN}", f"max.{PARTITION_COLUMN}", f"max.{spec.event_time}"
    if partition in actions.columns:
        day = pl.col(partition).cast(pl.Date)
    elif stats in actions.columns:
        day = pl.col(stats)
    else:
        day = pl.lit(None, dtype=pl.Date)
    if times in actions.columns:
        day = day.fill_null(pl.col(times).dt.convert_time_zone("UTC").dt.date())
    last = actions.filter(pl.col("num_records") > 0).select(day.max()).item()
    return last if isinstance(last, date) else None

"""The physical erasure: the files that held the subject, and every trace of them in the Delta logs.

A DELETE or a rebuild only removes files from the newest snapshot; older versions still
reference them and they stay on storage (for time travel, and because models pinned those
versions). An erasure overrides both rules for exactly the files that held the subject:

- bronze, predictions and feature quarantine: every file any retained version references, not
  in the latest snapshot, that holds one of the subject's values (statistics prune, then the
  column is read);
- quarantine: the same, matched on the records' raw content;
- feature tables: every such file whose event times reach a day the subject's events reach
  (their own rows and the windows of other entities that counted them).

A file of the latest snapshot is never purged: if one still holds the subject, the logical
erasure is not finished (a concurrent ingest) and the caller repeats it first.

Models whose pinned versions read a purged file are found before the purge
(:func:`affected_models`). Then the logs are scrubbed: statistics of purged files, and the
erasure's own DELETE predicates, are removed from every commit and checkpoint.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from featurelake.core.erasure import Needles
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.erase.locate import Located
from featurelake.io.aws.lake_versions import delete_noncurrent
from featurelake.io.aws.raw_erasure import break_glass_client
from featurelake.io.delta.erasure import (
    FileRecord,
    files_containing,
    files_on_storage,
    purge_files,
    scrub_log,
)
from featurelake.io.delta.file_reads import raw_content_files
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings

#: How old a data file no log entry names must be before a purge takes it for an abandoned write
#: (a writer that lost its commit race) rather than one whose commit is still in flight.
ORPHAN_GRACE = timedelta(seconds=30)
#: Which of a table's files hold the subject.
Check = Callable[[list[FileRecord]], set[str]]


@dataclass(frozen=True)
class PurgePlan:
    """Files to remove per table (relative to the table root), and live files still holding the subject."""

    files: dict[str, frozenset[str]]
    #: Tables whose latest snapshot still holds the subject: the logical erasure must run again.
    still_live: tuple[str, ...] = ()


def plan_purge(
    store: DeltaStore, located: Located, days: Mapping[str, list[tuple[date, date]]], *, include_live: bool = False
) -> PurgePlan:
    """Which files held the subject in each table ``located`` names; ``days`` per feature set ref.

    ``include_live`` (a dry run) counts the latest snapshot's files too: the erasure replaces them first.
    """
    subject = located.subject
    files: dict[str, frozenset[str]] = {}
    live_hits: list[str] = []
    checks: list[tuple[str, str, frozenset[str]]] = []
    if located.values:
        checks.append((bronze_path(subject.source), subject.column, located.values))
    for path, on in located.derived.items():
        if on[0] in located.rows.columns:  # the first match column prunes; a file holding it is derived data
            checks.append((path, on[0], frozenset(str(v) for v in located.rows[on[0]].unique().to_list())))
    for path, column, values in checks:
        holding, live = _holding(store, path, _containing(store, path, column, values), include_live)
        files[path], live_hits = holding, live_hits + ([path] if live else [])
    if located.quarantine_values:
        path = quarantine_path(subject.source)
        holding, live = _holding(
            store,
            path,
            lambda recs: raw_content_files(store, path, recs, subject.column, located.quarantine_values),
            include_live,
        )
        files[path], live_hits = holding, live_hits + ([path] if live else [])
    for spec in located.feature_sets:
        files[spec.table_path] = _feature_files(store, spec, days.get(spec.ref, []), include_live)
    return PurgePlan({p: f for p, f in files.items() if f}, tuple(live_hits))


def holding_files(store: DeltaStore, path: str, column: str, values: frozenset[str]) -> frozenset[str]:
    """The files of ``path`` no longer live that hold one of ``values`` in ``column``."""
    return _holding(store, path, _containing(store, path, column, values), include_live=False)[0]


def _containing(store: DeltaStore, path: str, column: str, values: frozenset[str]) -> Check:
    return lambda records: files_containing(store, path, records, column, values)


def _holding(store: DeltaStore, path: str, check: Check, include_live: bool) -> tuple[frozenset[str], bool]:
    """Files of ``path`` that ``check`` finds holding the subject (live ones only with ``include_live``).

    The flag says whether a live one does: the logical erasure is not done with that table.
    Orphans (written, never committed) count too, once they are older than :data:`ORPHAN_GRACE`:
    a younger one may belong to a commit still in flight, so the plan waits for it to settle.
    """
    for _ in range(2):
        records = files_on_storage(store, path)
        held = check(records)
        young = [_age(r.orphan_since) for r in records if r.path in held and r.orphan_since is not None]
        young = [age for age in young if age < ORPHAN_GRACE.total_seconds()]
        if not young:
            break
        clock.sleep(ORPHAN_GRACE.total_seconds() - min(young))
    live = {r.path for r in records if r.live}
    return frozenset(held if include_live else set(held) - live), bool(set(held) & live)


def _age(since: datetime) -> float:
    """Seconds since ``since`` (an object's last-modified time)."""
    moment = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()


def _feature_files(
    store: DeltaStore, spec: FeatureSet, days: list[tuple[date, date]], include_live: bool
) -> frozenset[str]:
    """Files (live ones only with ``include_live``) whose event times reach one of ``days``.

    A file without statistics may hold any day: so does an orphan a build left (a chunk write
    that lost its commit race), found and waited for like any orphan (:func:`_holding`).
    """
    if not days:
        return frozenset()
    windows = [(_start(first), _start(last) + timedelta(days=1)) for first, last in days]

    def reaching(records: list[FileRecord]) -> set[str]:
        found = set()
        for record in records:
            low = _as_time(record.min_values.get(spec.event_time))
            high = _as_time(record.max_values.get(spec.event_time))
            if low is None or high is None or any(low < until and high >= since for since, until in windows):
                found.add(record.path)
        return found

    return _holding(store, spec.table_path, reaching, include_live)[0]


def _as_time(value: object) -> datetime | None:
    """A statistic as an aware time: log statistics are ISO text, checkpoint ones may be parsed already."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def snapshot_holds(store: DeltaStore, path: str, version: int, files: frozenset[str]) -> bool:
    """Whether version ``version`` of the table at ``path`` reads one of ``files`` (False if unloadable)."""
    try:
        records = store.existing(path, version).get_add_actions(flatten=True)
    except (FileNotFoundError, ValueError):
        return False
    return bool(set(records.column("path").to_pylist()) & files)


def purge(store: DeltaStore, plan: PurgePlan) -> dict[str, list[str]]:
    """Delete the planned files; returns, per table, the files this call deleted (already missing ones are not)."""
    return {path: purge_files(store, path, sorted(files)) for path, files in plan.files.items()}


def purge_versions(settings: Settings, plan: PurgePlan, tables: Iterable[str]) -> int:
    """In a versioned lake bucket, delete the noncurrent versions of purged files and rewritten log entries.

    Needs the break-glass principal (the bucket policy denies version deletes to everyone else).
    A lake on local disk, or a bucket without versioning, has none. Returns how many went.
    """
    if not settings.lake_uri.startswith("s3://"):
        return 0
    client = break_glass_client(settings)
    root = settings.lake_uri.removeprefix("s3://").partition("/")[2].strip("/")
    deleted = 0
    for table in sorted(set(tables)):
        base = f"{root}/{table}/" if root else f"{table}/"
        deleted += delete_noncurrent(client, settings.lake_bucket, f"{base}_delta_log/")
        files = plan.files.get(table)
        if files:
            deleted += delete_noncurrent(client, settings.lake_bucket, base, frozenset(base + f for f in files))
    return deleted


def scrub(store: DeltaStore, paths: Iterable[str], plan: PurgePlan, needles: Needles, request_id: str) -> int:
    """Scrub the logs of ``paths``: statistics of purged files, the request's predicates; commits rewritten."""
    rewritten = 0
    for path in sorted(set(paths)):
        if store.version(path) is None:
            continue
        result = scrub_log(store, path, plan.files.get(path, frozenset()), needles, frozenset({request_id}))
        rewritten += result.commits_rewritten + result.checkpoints_rewritten
    return rewritten

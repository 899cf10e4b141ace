"""Which bronze versions were announced, kept in the lake so that a crash cannot swallow an event.

Ingest announces ``featurelake.bronze-table.appended`` after its last write. A process killed in
between leaves bronze moved and nobody told: the re-run finds no new object and, without a
record, would announce nothing, so no build would ever start. After each announcement an empty
commit on the source's ingest log records the bronze version as a Delta app transaction; any
later run announces a newer bronze version that has no such record. A crash between emitting and
recording repeats the same event id, which Prefect and the idempotent builds absorb.
"""

from __future__ import annotations

import json
import random
import time

import polars as pl

from featurelake.core import commits, events
from featurelake.core.naming import bronze_path, bronze_resource_id
from featurelake.ingest.bronze import LOG_SCHEMA, SOURCE_KEY, IngestResult, ingest_log_path, run_tags
from featurelake.io.delta.store import AppTransaction, CommitConflictError, DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.settings import Settings


def announce_landings(settings: Settings, sources: list[str], landed: list[IngestResult], flow_run_id: str) -> None:
    """Announce, then record, each source's bronze version that no announcement was recorded for.

    ``landed`` holds what this run wrote; a source it did not move may still have a landing a
    crashed run never announced (:func:`unannounced_landing`). ``sources`` should leave out the
    sources whose ingest failed in this run.
    """
    store, written = DeltaStore(settings), {r.source: r for r in landed}
    for source in sources:
        result = written.get(source) or unannounced_landing(store, source)
        if result is not None and needs_announcement(store, result):
            announce(settings, result)
            record_announced(store, result, run_tags(flow_run_id))


def bronze_appended(settings: Settings, result: IngestResult) -> events.BronzeAppended:
    """The payload telling the automations that bronze moved (only for a result that moved it)."""
    return events.BronzeAppended(
        source=result.source,
        table_uri=settings.table_uri(bronze_path(result.source)),
        delta_version=result.bronze_version or 0,
        rows_accepted=result.rows_accepted,
        rows_quarantined=result.rows_quarantined,
        source_keys=result.source_keys,
    )


def announce(settings: Settings, result: IngestResult) -> None:
    """Emit ``featurelake.bronze-table.appended`` for ``result`` (deterministic id: re-emits collapse)."""
    payload = bronze_appended(settings, result)
    emit(
        events.BRONZE_APPENDED,
        bronze_resource_id(result.source),
        payload,
        discriminator=events.at(payload.table_uri, result.bronze_version),
        labels={events.DELTA_VERSION_LABEL: str(result.bronze_version)},
    )


#: How many recent ingest-log commits :func:`announced_version` reads for records that raced.
_RECENT_RECORDS = 20


def needs_announcement(store: DeltaStore, result: IngestResult) -> bool:
    """True when ``result`` moved bronze to a version no announcement was recorded for."""
    if result.bronze_version is None:
        return False
    announced = announced_version(store, result.source)
    return announced is None or announced < result.bronze_version


def announced_version(store: DeltaStore, source: str) -> int | None:
    """The newest bronze version whose announcement was recorded.

    The app transaction holds the *last* record written, not the highest: two ingests that record
    concurrently (one for version 2, then one for version 1 that checked before the other wrote)
    leave it at 1. Records are recent commits of the ingest log, so the highest of the last few
    is taken as well: a race never makes a later run announce (and record) again.
    """
    path = ingest_log_path(source)
    recorded = [
        int(str(commit[commits.BRONZE_VERSION]))
        for commit in store.history(path, _RECENT_RECORDS)
        if commit.get(commits.OPERATION) == commits.Operation.BRONZE_ANNOUNCED and commit.get(commits.BRONZE_VERSION)
    ]
    last = store.app_version(path, commits.ANNOUNCED_APP_ID)
    return max([v for v in (last, *recorded) if v is not None], default=None)


def unannounced_landing(store: DeltaStore, source: str) -> IngestResult | None:
    """The latest bronze commit of a source, as a result to announce, if nobody recorded announcing it.

    Counts come from the ingest log rows of the objects that commit names, so the payload says
    what that commit holds.
    """
    version = store.version(bronze_path(source))
    if version is None:
        return None
    commit = store.history(bronze_path(source), 1)[0]
    if commits.SOURCE_KEYS not in commit:  # the table's empty create, or not written by ingest
        return None
    keys: list[str] = json.loads(commit[commits.SOURCE_KEYS])
    log = store.read(ingest_log_path(source)).filter(pl.col(SOURCE_KEY).is_in(keys))
    accepted, quarantined = int(log["rows_accepted"].sum()), int(log["rows_quarantined"].sum())
    landing = IngestResult(source, len(keys), accepted + quarantined, accepted, quarantined, version, keys)
    return landing if needs_announcement(store, landing) else None


def record_announced(store: DeltaStore, result: IngestResult, run_tags: dict[str, str], attempts: int = 6) -> None:
    """Record (an empty commit carrying an app transaction) that ``result``'s bronze version was announced.

    A concurrent ingest's log commit can make this commit lose its race; recording is idempotent
    (the highest version wins), so it is retried, and skipped once the record is already there.
    """
    for attempt in range(attempts):
        if not needs_announcement(store, result):
            return  # another run recorded it meanwhile
        try:
            _append_record(store, result, run_tags)
            return
        except CommitConflictError:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.2 * 2**attempt))


def _append_record(store: DeltaStore, result: IngestResult, run_tags: dict[str, str]) -> None:
    assert result.bronze_version is not None
    store.write(
        ingest_log_path(result.source),
        pl.DataFrame(schema=LOG_SCHEMA),
        mode="append",
        metadata={
            **run_tags,
            commits.OPERATION: commits.Operation.BRONZE_ANNOUNCED,
            commits.BRONZE_VERSION: result.bronze_version,
        },
        app_transaction=AppTransaction(commits.ANNOUNCED_APP_ID, result.bronze_version),
    )

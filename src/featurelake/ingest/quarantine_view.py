"""Reading the quarantine: what was rejected, from which object, why, and when.

``featurelake quarantine`` lists it through here. By default a person sees counts: per source,
object and reason, the rows and when they were ingested. Reasons name columns, keys and rules,
never values (:func:`featurelake.core.contracts.apply_contract`).

The stored content (``_raw``) is row data. The contract's PII policies protected it before it
was written: declared personal columns are hashed, masked or dropped, and a file that could not
be parsed keeps no content at all when its source declares PII. It is still what a producer
sent, including columns nobody declared as personal, so it is read only on request
(:func:`quarantine_records`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from featurelake.core.contracts import RAW_CONTENT, REASON_COLUMN
from featurelake.core.naming import quarantine_path
from featurelake.ingest.bronze import INGESTED_AT, SOURCE_ETAG, SOURCE_KEY
from featurelake.ingest.reasons import count_reasons
from featurelake.io.delta.store import DeltaStore

_FIRST, _LAST = "first_ingested_at", "last_ingested_at"


@dataclass(frozen=True)
class QuarantineGroup:
    """The rows one object sent to quarantine for one reason."""

    source: str
    object_key: str
    reason: str
    rows: int
    first_ingested_at: dt.datetime
    last_ingested_at: dt.datetime


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined row, or one file rejected whole, with its stored (PII-protected) content."""

    source: str
    object_key: str
    etag: str
    reason: str
    ingested_at: dt.datetime
    content: str


def quarantine_groups(
    store: DeltaStore, sources: list[str], since: dt.datetime | None = None, object_key: str | None = None
) -> list[QuarantineGroup]:
    """Per source, object and reason: how many rows, first and last ingested (object key order, most rows first)."""
    groups = []
    for source in sources:
        frame = _read(store, source, [SOURCE_KEY, REASON_COLUMN, INGESTED_AT], since, object_key)
        if frame is None:
            continue
        times = pl.col(INGESTED_AT).min().alias(_FIRST), pl.col(INGESTED_AT).max().alias(_LAST)
        for key, reason, rows, first, last in count_reasons(frame, [SOURCE_KEY], *times).iter_rows():
            groups.append(QuarantineGroup(source, key, reason, rows, first, last))
    return groups


def quarantine_records(
    store: DeltaStore,
    sources: list[str],
    since: dt.datetime | None = None,
    object_key: str | None = None,
    limit: int | None = None,
) -> list[QuarantineRecord]:
    """Quarantined rows with their stored content, newest first, at most ``limit`` (None: all)."""
    columns = [SOURCE_KEY, SOURCE_ETAG, REASON_COLUMN, INGESTED_AT, RAW_CONTENT]
    frames = [
        frame.select(pl.lit(source).alias("source"), *columns)
        for source in sources
        if (frame := _read(store, source, columns, since, object_key)) is not None
    ]
    if not frames:
        return []
    newest = pl.concat(frames).sort([INGESTED_AT, "source", SOURCE_KEY], descending=[True, False, False])
    return [QuarantineRecord(*row) for row in (newest if limit is None else newest.head(limit)).iter_rows()]


def _read(
    store: DeltaStore, source: str, columns: list[str], since: dt.datetime | None, object_key: str | None
) -> pl.DataFrame | None:
    """A source's quarantine rows (these columns) ingested at or after ``since``, of one object if named."""
    if store.version(quarantine_path(source)) is None:
        return None  # nothing of this source was ever quarantined
    frame = store.read(quarantine_path(source), columns=columns)
    if since is not None:
        frame = frame.filter(pl.col(INGESTED_AT) >= since)
    if object_key is not None:
        frame = frame.filter(pl.col(SOURCE_KEY) == object_key)
    return frame


def group_rows(groups: list[QuarantineGroup]) -> int:
    """Rows over all groups (a file rejected whole counts as one)."""
    return sum(g.rows for g in groups)

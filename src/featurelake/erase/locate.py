"""Where a data subject is: their rows in bronze and quarantine, and what was derived from them.

Everything an erasure (or its dry run) does starts here. The subject's rows in bronze give the
raw objects they came from, the days their events fall on (the feature days to rebuild), the
entity keys and primary keys their rows carry (to find derived rows: feature quarantine,
predictions, online items). Those values are personal data: they live in memory for the
duration of one erasure and are never written, logged or returned outside this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from featurelake.core.catalog import Catalog
from featurelake.core.contracts import RAW_CONTENT, REASON_COLUMN
from featurelake.core.erasure import Subject, matching_values, raw_content_values
from featurelake.core.featureset import FeatureSet
from featurelake.core.increments import merge_ranges, utc_day
from featurelake.core.naming import bronze_path, feature_quarantine_path, predictions_path, quarantine_path
from featurelake.ingest.bronze import SOURCE_KEY
from featurelake.io.delta.erasure import files_on_storage
from featurelake.io.delta.file_reads import read_files
from featurelake.io.delta.store import DeltaStore


@dataclass(frozen=True)
class Located:
    """The subject's rows and what hangs off them, at the versions read (in memory only)."""

    subject: Subject
    #: The literal values of the subject column in bronze (plain: the value; hashed: its hashes).
    values: frozenset[str]
    #: The subject's bronze rows still on storage (latest snapshot or older files): subject column,
    #: bookkeeping, event time, entity and primary keys.
    rows: pl.DataFrame
    #: Quarantine records (their ``_raw``) holding the subject, and the values found there.
    quarantine_values: frozenset[str]
    quarantine_records: int
    #: Raw object keys the subject's bronze and quarantine rows came from.
    raw_keys: tuple[str, ...]
    #: Feature sets reading this source whose tables exist.
    feature_sets: tuple[FeatureSet, ...]
    #: The source's primary key columns (how predictions name the row they scored).
    primary_key: tuple[str, ...] = ()
    #: The subject's rows in bronze's latest snapshot (what a DELETE removes).
    live_rows: int = 0
    #: Tables of rows derived from the subject's (predictions: by primary key; feature quarantine: by
    #: feature keys), by lake path: the columns a row is matched on.
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Of those, the ones whose latest snapshot holds such rows, with row counts.
    derived_rows: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether the lake holds anything of the subject (else the erasure is a no-op)."""
        return bool(self.live_rows or self.quarantine_records or self.derived_rows)

    @property
    def on_storage(self) -> bool:
        """Whether any file on storage still holds the subject's source rows (the physical erasure's work)."""
        return bool(self.rows.height or self.quarantine_values)

    def days(self, lookback_of: FeatureSet) -> list[tuple[date, date]]:
        """The feature days the subject's events reach: their day up to the widest window after it."""
        time = lookback_of.event_time
        if self.rows.is_empty() or time not in self.rows.columns:
            return []
        return merge_ranges(
            [(utc_day(t), utc_day(t + lookback_of.lookback)) for t in self.rows[time].drop_nulls().to_list()]
        )


def locate(store: DeltaStore, found: Catalog, subject: Subject, key: bytes) -> Located:
    """Find the subject in its source's tables; ``key`` is the key of ``subject.key_id``."""
    contract = found.sources[subject.source]
    specs = tuple(
        s for s in found.feature_sets.values() if s.source.name == subject.source and store.version(s.table_path)
    )
    wanted = {subject.column, SOURCE_KEY, *contract.primary_key, *(c for s in specs for c in s.key_columns)}
    rows, values, live_rows = _bronze_rows(store, subject, key, wanted)
    q_values, q_records, q_keys = _quarantine(store, subject, key)
    raw_keys = sorted(set(rows[SOURCE_KEY].to_list() if rows.height else []) | q_keys)
    derived = {predictions_path(m): contract.primary_key for m in found.models}
    derived |= {feature_quarantine_path(s.name, s.version): s.key_columns for s in specs}
    derived = {path: on for path, on in derived.items() if on and store.version(path) is not None}
    return Located(
        subject, values, rows, q_values, q_records, tuple(raw_keys), specs, contract.primary_key, live_rows,
        derived, _counted(store, derived, rows),
    )  # fmt: skip


def _bronze_rows(
    store: DeltaStore, subject: Subject, key: bytes, wanted: set[str]
) -> tuple[pl.DataFrame, frozenset[str], int]:
    """The subject's bronze rows (``wanted`` columns), live or in older files; the values that are them; live rows."""
    path = bronze_path(subject.source)
    if subject.kind == "drop" or store.version(path) is None:
        return pl.DataFrame(), frozenset(), 0
    schema = store.existing(path).schema().to_arrow().names
    live, history = present_rows(store, path, [c for c in sorted(wanted) if c in schema])
    present = pl.concat([live, history], how="diagonal_relaxed") if history.height else live
    values = frozenset(matching_values(present[subject.column].cast(pl.String).unique().to_list(), subject, key))
    if not values:
        return pl.DataFrame(), values, 0
    is_subject = pl.col(subject.column).cast(pl.String).is_in(list(values))
    return present.filter(is_subject).unique(), values, live.filter(is_subject).height


def present_rows(store: DeltaStore, path: str, columns: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``columns`` of every row still on storage: the latest snapshot's, and those files of older versions hold.

    Older versions' files (kept for time travel and model pins) may hold rows the latest
    snapshot no longer has, among them a subject an interrupted erasure already deleted.
    """
    live = store.read(path, columns=columns)
    older = [record.path for record in files_on_storage(store, path) if not record.live]  # orphans too
    return live, read_files(store, path, older, columns)


def _quarantine(store: DeltaStore, subject: Subject, key: bytes) -> tuple[frozenset[str], int, set[str]]:
    """Values, live record count and raw keys of quarantine records (live or older) holding the subject.

    Objects rejected whole are raw keys too: their rows were never parsed, so only the raw step,
    which searches their bytes, can tell whether they hold the subject.
    """
    path = quarantine_path(subject.source)
    if store.version(path) is None:
        return frozenset(), 0, set()
    live, history = present_rows(store, path, [SOURCE_KEY, RAW_CONTENT, REASON_COLUMN])
    frame = pl.concat([live, history], how="diagonal_relaxed") if history.height else live
    per_record = [set(raw_content_values(text or "", subject.column)) for text in frame[RAW_CONTENT].to_list()]
    values = frozenset(matching_values({v for vs in per_record for v in vs}, subject, key))
    held = [bool(vs & values) for vs in per_record]
    keys = {k for k, hit in zip(frame[SOURCE_KEY].to_list(), held, strict=True) if hit}
    whole = live.filter(pl.col(REASON_COLUMN).str.starts_with(pl.col(SOURCE_KEY) + ":"))
    return values, sum(held[: live.height]), keys | set(whole[SOURCE_KEY].to_list())


def _counted(store: DeltaStore, derived: dict[str, tuple[str, ...]], rows: pl.DataFrame) -> dict[str, int]:
    """Derived tables whose latest snapshot holds rows matching the subject's rows, with counts."""
    counts: dict[str, int] = {}
    for path, on in derived.items():
        columns = list(on)
        if rows.is_empty() or not set(columns) <= set(rows.columns):
            continue
        if not set(columns) <= set(store.existing(path).schema().to_arrow().names):
            continue
        held = store.read(path, columns=columns).join(rows.select(columns).unique(), on=columns, how="semi").height
        if held:
            counts[path] = held
    return counts


def match_predicate(rows: pl.DataFrame, on: list[str]) -> str:
    """A Delta predicate matching exactly the rows whose ``on`` columns equal one of ``rows``' (values quoted)."""
    clauses = []
    for record in rows.select(on).unique().iter_rows(named=True):
        parts = [f"{column} = {_literal(value)}" for column, value in record.items()]
        clauses.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(clauses)


def _literal(value: object) -> str:
    """A SQL literal for a key value: numbers as they are, times as UTC timestamps, the rest quoted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, datetime):
        return f"CAST('{value.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}' AS TIMESTAMP)"
    return "'" + str(value).replace("'", "''") + "'"

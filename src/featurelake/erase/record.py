"""The erasure log: one append-only row per completed request, in the lake; and the event that says so.

The log is what an auditor reads: who asked, when, which request, the subject as a keyed
*record* hash (:func:`featurelake.core.erasure.record_hash`, never the value and never the hash
a hashed column holds), what was removed where, the versions written, the files vacuumed, the
raw objects rewritten (old and new ETags) and the models affected. A row is never updated: a
request already logged is not logged again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import polars as pl

from featurelake.core import commits, events
from featurelake.core.erasure import Subject, SubjectErased
from featurelake.core.naming import ERASURE_LOG_PATH
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit

#: The stages a request's log rows record: the lake erased (everything but, possibly, raw objects),
#: and raw objects rewritten by a later run with the break-glass principal.
ERASED, RAW_OBJECTS = "erased", "raw-objects"
LOG_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "stage": pl.String(),
        "source": pl.String(),
        "column": pl.String(),
        "subject_hash": pl.String(),
        "key_id": pl.String(),
        "actor": pl.String(),
        "completed_at": pl.Datetime("us", "UTC"),
        "rows_removed": pl.String(),
        "versions_written": pl.String(),
        "files_vacuumed": pl.String(),
        "raw_objects": pl.String(),
        "online_items_deleted": pl.Int64(),
        "models_affected": pl.String(),
        "notes": pl.String(),
    }
)


@dataclass
class ErasureOutcome:
    """What one erasure run did (JSON-able; the log row, the event and the CLI table are made from it)."""

    request_id: str
    source: str
    column: str
    subject_hash: str
    key_id: str
    actor: str
    rows_removed: dict[str, int] = field(default_factory=dict)
    versions_written: dict[str, int] = field(default_factory=dict)
    files_vacuumed: dict[str, list[str]] = field(default_factory=dict)
    raw_objects: list[dict[str, object]] = field(default_factory=list)
    online_items_deleted: int = 0
    models_affected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Feature set → the day ranges rebuilt (a dry run: that would be).
    feature_days: dict[str, list[str]] = field(default_factory=dict)
    #: A dry run: every count says what would change, and nothing did.
    dry_run: bool = False

    @classmethod
    def start(cls, subject: Subject, actor: str, *, dry_run: bool = False) -> ErasureOutcome:
        """An empty outcome for ``subject``'s request."""
        return cls(
            subject.request_id, subject.source, subject.column, subject.record_hash, subject.key_id, actor,
            dry_run=dry_run,
        )  # fmt: skip

    @property
    def new_etags(self) -> dict[str, str]:
        """The new ETag of every raw object the erasure rewrote, by key."""
        return {str(r["key"]): str(r["new_etag"]) for r in self.raw_objects if r.get("new_etag")}

    @property
    def files_vacuumed_count(self) -> int:
        """How many files were (in a dry run: would be) purged, over every table."""
        return sum(len(files) for files in self.files_vacuumed.values())

    def summary(self) -> dict[str, object]:
        """Counts for a person: rows, tables, files, raw objects, online items, models."""
        return {
            "request_id": self.request_id,
            "rows_removed": sum(self.rows_removed.values()),
            "tables_changed": len(self.versions_written),
            "files_vacuumed": self.files_vacuumed_count,
            "raw_objects_rewritten": len(self.new_etags),
            "online_items_deleted": self.online_items_deleted,
            "models_affected": len(self.models_affected),
        }


def logged(store: DeltaStore, request_id: str, stage: str = ERASED) -> dict[str, object] | None:
    """The log row of ``request_id`` at ``stage``, or None when that stage never completed."""
    if store.version(ERASURE_LOG_PATH) is None:
        return None
    rows = store.read(ERASURE_LOG_PATH).filter((pl.col("request_id") == request_id) & (pl.col("stage") == stage))
    return None if rows.is_empty() else rows.row(0, named=True)


def append_log(store: DeltaStore, outcome: ErasureOutcome, stage: str = ERASED) -> int:
    """Append ``outcome``'s row for ``stage`` (once per request and stage); the log's Delta version holding it.

    Rows are only ever appended: a later stage of the same request (raw objects rewritten after
    the lake was erased) is a row of its own.
    """
    if logged(store, outcome.request_id, stage) is not None:
        return int(store.version(ERASURE_LOG_PATH) or 0)
    data = asdict(outcome) | {"stage": stage}
    row = {name: data.get(name) for name in LOG_SCHEMA.names()} | {"completed_at": datetime.now(UTC)}
    for name, dtype in LOG_SCHEMA.items():
        if dtype == pl.String and not isinstance(row[name], str):
            row[name] = json.dumps(row[name], sort_keys=True)
    frame = pl.DataFrame([row], schema=LOG_SCHEMA)
    metadata = {commits.ERASURE_REQUEST: outcome.request_id, commits.ACTOR: outcome.actor}
    return store.write(ERASURE_LOG_PATH, frame, mode="append", metadata=metadata)


def announce_erased(outcome: ErasureOutcome, log_version: int) -> str:
    """Emit ``featurelake.subject.erased`` (id from the request: a re-run's event collapses into the first)."""
    payload = SubjectErased(
        request_id=outcome.request_id,
        source=outcome.source,
        column=outcome.column,
        subject_hash=outcome.subject_hash,
        key_id=outcome.key_id,
        rows_removed=outcome.rows_removed,
        versions_written=outcome.versions_written,
        files_vacuumed=outcome.files_vacuumed_count,
        online_items_deleted=outcome.online_items_deleted,
        raw_objects_rewritten=len(outcome.new_etags),
        models_affected=outcome.models_affected,
        erasure_log_version=log_version,
    )
    resource = f"featurelake.erasure.{outcome.source}"
    return str(emit(events.SUBJECT_ERASED, resource, payload, outcome.request_id))


def outcome_markdown(outcome: ErasureOutcome) -> str:
    """The erasure as a Prefect artifact: what was (or, in a dry run, would be) removed where; no value, ever."""
    verb = "would remove" if outcome.dry_run else "removed"
    lines = [
        f"# Erasure {outcome.request_id}{' (dry run)' if outcome.dry_run else ''}",
        "",
        f"Source `{outcome.source}`, column `{outcome.column}`, subject record hash `{outcome.subject_hash[:16]}…` "
        f"(key {outcome.key_id}), by {outcome.actor}.",
        "",
        f"| table | rows {verb} | Delta version | files vacuumed |",
        "|---|---:|---:|---:|",
    ]
    tables = sorted(set(outcome.rows_removed) | set(outcome.versions_written) | set(outcome.files_vacuumed))
    for table in tables:
        version = outcome.versions_written.get(table, "")
        files = len(outcome.files_vacuumed.get(table, []))
        lines.append(f"| {table} | {outcome.rows_removed.get(table, 0)} | {version} | {files} |")
    lines += ["", f"Feature days rebuilt: {outcome.feature_days or 'none'}"]
    lines += [f"Online items deleted: {outcome.online_items_deleted}", ""]
    lines += [f"Raw objects: {len(outcome.raw_objects)}"] + [f"- `{r.get('key')}`" for r in outcome.raw_objects]
    lines += ["", f"Models affected: {outcome.models_affected or 'none'}"]
    lines += [f"- {note}" for note in outcome.notes]
    return "\n".join(lines)

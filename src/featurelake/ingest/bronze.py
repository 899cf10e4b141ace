"""The bronze write: bronze, quarantine and the ingest log, idempotent per raw object.

An object is done once it appears in the source's ingest log. Bronze and quarantine rows are
written with a predicate overwrite on the object keys of the batch, and the log last, so a
crash anywhere followed by a re-run rewrites the same rows instead of adding them twice.

This module also names the bookkeeping columns every bronze and quarantine row carries (which
object it came from, at which ETag, when): the build, lineage and check stages read them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import cast

import polars as pl
import pyarrow as pa

from featurelake.core import commits, events
from featurelake.core.contracts import SourceContract
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.core.pii import key_id
from featurelake.ingest.reasons import object_quarantine
from featurelake.io.aws.raw import RawObject
from featurelake.io.delta.store import DeltaStore
from featurelake.io.revision import code_revision

#: Bookkeeping columns of every bronze and quarantine row: the raw object, its ETag, the ingest time.
SOURCE_KEY, SOURCE_ETAG, INGESTED_AT = "_source_key", "_source_etag", "_ingested_at"
LOG_SCHEMA = pl.Schema(
    {SOURCE_KEY: pl.String, SOURCE_ETAG: pl.String, "rows_accepted": pl.Int64, "rows_quarantined": pl.Int64}
)


def ingest_log_path(source: str) -> str:
    """The table listing every raw object a source has fully processed."""
    return f"_ingest_log/{source}"


@dataclass(frozen=True)
class ObjectBatch:
    """One raw object split into accepted and quarantined rows."""

    obj: RawObject
    rows_read: int
    accepted: pl.DataFrame
    quarantined: pl.DataFrame
    #: Rows of erased subjects (the suppression list), dropped before the contract and only counted.
    rows_suppressed: int = 0

    @property
    def reconciled(self) -> bool:
        """Every row read is accepted, quarantined or suppressed: nothing lost, nothing invented."""
        return self.rows_read == self.accepted.height + self.quarantined.height + self.rows_suppressed


@dataclass(frozen=True)
class IngestResult:
    """What one run committed for one source: rows read = accepted + quarantined + suppressed.

    Objects another ingest run committed first (two runs over the same objects) are not
    counted: the runs' counts add up to what landed.
    """

    source: str
    objects_new: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    bronze_version: int | None
    source_keys: list[str]
    #: The quarantine table's version after this run's last write to it (None: never written).
    quarantine_version: int | None = None
    #: Per committed object with quarantined rows: its reasons with their row counts.
    quarantined: tuple[events.QuarantinedObject, ...] = ()
    #: Rows of erased subjects dropped at ingest (the suppression list): neither in bronze nor quarantine.
    rows_suppressed: int = 0

    @property
    def reconciled(self) -> bool:
        """Rows read (counted when parsing) equal rows accepted plus rows quarantined plus rows suppressed."""
        return self.rows_read == self.rows_accepted + self.rows_quarantined + self.rows_suppressed


def combine_results(results: list[IngestResult]) -> IngestResult:
    """One source's results over several commits, as one: sums, and the last bronze version."""
    return IngestResult(
        source=results[0].source,
        objects_new=sum(r.objects_new for r in results),
        rows_read=sum(r.rows_read for r in results),
        rows_accepted=sum(r.rows_accepted for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        bronze_version=results[-1].bronze_version,
        source_keys=[key for r in results for key in r.source_keys],
        quarantine_version=max((v for r in results if (v := r.quarantine_version) is not None), default=None),
        quarantined=tuple(q for r in results for q in r.quarantined),
        rows_suppressed=sum(r.rows_suppressed for r in results),
    )


#: What :func:`summary_rows` leaves out: a backlog can name thousands of objects (the quarantine
#: report lists those with quarantined rows).
_NOT_SUMMARISED = frozenset({"source_keys", "quarantined", "quarantine_version"})


def summary_rows(results: list[IngestResult]) -> list[dict[str, object]]:
    """One row of counts per source (the ingest flow's return value and summary artifact)."""
    return [
        {k: v for k, v in vars(r).items() if k not in _NOT_SUMMARISED} | {"reconciled": r.reconciled} for r in results
    ]


def ingested_objects(store: DeltaStore, source: str, version: int | None = None) -> set[tuple[str, str]]:
    """(key, etag) of every object already processed for this source (at a given version of its log)."""
    if store.version(ingest_log_path(source)) is None:
        return set()
    return set(store.read(ingest_log_path(source), version, columns=[SOURCE_KEY, SOURCE_ETAG]).iter_rows())


def not_ingested(listed: list[RawObject], done: set[tuple[str, str]]) -> list[RawObject]:
    """The listed objects whose (key, ETag) the ingest log does not hold: new, or rewritten since."""
    return [o for o in listed if (o.key, o.etag) not in done]


def run_tags(flow_run_id: str) -> dict[str, str]:
    """The commit metadata naming the ingest run that wrote a commit."""
    return {commits.FLOW_RUN_ID: flow_run_id, commits.FLOW: "ingest"}


def audit_tags(flow_run_id: str, deployment: str | None, pii_key: bytes | None) -> dict[str, str]:
    """The commit metadata of an ingest's writes: run, deployment, code revision and PII key id.

    The key id (never the key) says which key hashed the batch's PII columns, for audits and
    key rotation.
    """
    tags = {
        **run_tags(flow_run_id),
        commits.DEPLOYMENT: deployment or "(none: run directly)",
        commits.CODE_REVISION: code_revision(),
    }
    if pii_key is not None:
        tags[commits.PII_KEY_ID] = key_id(pii_key)
    return tags


def stamp(frame: pl.DataFrame, obj: RawObject, now: dt.datetime) -> pl.DataFrame:
    """Add the bookkeeping columns: which object (and ETag) the rows came from, and when they were read."""
    return frame.with_columns(
        pl.lit(obj.key).alias(SOURCE_KEY),
        pl.lit(obj.etag).alias(SOURCE_ETAG),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias(INGESTED_AT),
    )


def write_batches(
    store: DeltaStore,
    contract: SourceContract,
    batches: list[ObjectBatch],
    run_tags: dict[str, str],
    replaced: frozenset[str] = frozenset(),
) -> IngestResult:
    """Write quarantine, then bronze, then the log, each idempotent for these objects; count what this run committed.

    ``replaced`` names objects ingested before under another ETag (a producer rewrote them):
    their old rows are removed from a table even when the new version puts none there.

    Two runs that listed the same objects may write them at the same time: each table still
    holds every row once, and the log's commit order says whose they are. An object whose
    (key, ETag) the log held just before this run's log commit was committed by the other run
    first, so this run's result leaves it out.
    """
    source, keys = contract.name, [b.obj.key for b in batches]
    predicate, metadata = sql_in(SOURCE_KEY, keys), _commit_metadata(source, keys, run_tags)
    quarantined = pl.concat([b.quarantined for b in batches], how="diagonal_relaxed")
    with_rows = [b.accepted for b in batches if b.accepted.height]
    accepted = pl.concat(with_rows, how="diagonal_relaxed") if with_rows else pl.DataFrame()  # all files bad
    stale = sorted(replaced & set(keys))
    quarantine_version = _replace_rows(store, quarantine_path(source), quarantined, predicate, stale, metadata)
    bronze_version = _replace_rows(store, bronze_path(source), accepted, predicate, stale, metadata)
    log_path = ingest_log_path(source)
    log_version = store.write(log_path, _log_rows(batches), mode="overwrite", predicate=predicate, metadata=metadata)
    before = ingested_objects(store, source, log_version - 1)
    mine = [b for b in batches if (b.obj.key, b.obj.etag) not in before]
    return IngestResult(
        source=source,
        objects_new=len(mine),
        rows_read=sum(b.rows_read for b in mine),
        rows_accepted=sum(b.accepted.height for b in mine),
        rows_quarantined=sum(b.quarantined.height for b in mine),
        bronze_version=bronze_version,
        source_keys=[b.obj.key for b in mine],
        quarantine_version=quarantine_version if quarantined.height else None,
        quarantined=tuple(
            object_quarantine(b.obj.key, b.obj.etag, b.quarantined) for b in mine if b.quarantined.height
        ),
        rows_suppressed=sum(b.rows_suppressed for b in mine),
    )


def _commit_metadata(source: str, keys: list[str], run_tags: dict[str, str]) -> dict[str, object]:
    """An ingest commit's metadata: the run, the source, and which objects it holds (audit, re-announcing)."""
    return {**run_tags, commits.SOURCE: source, commits.OBJECTS: len(keys), commits.SOURCE_KEYS: json.dumps(keys)}


def _replace_rows(
    store: DeltaStore, path: str, rows: pl.DataFrame, predicate: str, stale: list[str], metadata: dict[str, object]
) -> int | None:
    """Replace a table's rows of these objects; returns the table's version afterwards.

    With no new rows, only the rows of rewritten objects need removing: an empty overwrite
    restricted to them, so that a batch with nothing to say adds no empty commit.
    """
    if rows.height:
        return store.write(path, rows, mode="overwrite", predicate=predicate, metadata=metadata)
    table = store.table(path)
    if table is None or not stale:
        return None if table is None else table.version()
    empty = cast("pl.DataFrame", pl.from_arrow(pa.schema(table.schema().to_arrow()).empty_table()))
    return store.write(path, empty, mode="overwrite", predicate=sql_in(SOURCE_KEY, stale), metadata=metadata)


def _log_rows(batches: list[ObjectBatch]) -> pl.DataFrame:
    """The ingest log's rows for these objects: key, ETag and what each contributed."""
    return pl.DataFrame(
        {
            SOURCE_KEY: [b.obj.key for b in batches],
            SOURCE_ETAG: [b.obj.etag for b in batches],
            "rows_accepted": [b.accepted.height for b in batches],
            "rows_quarantined": [b.quarantined.height for b in batches],
        },
        schema=LOG_SCHEMA,
    )


def sql_in(column: str, values: list[str]) -> str:
    """A Delta predicate ``column IN (...)`` with the values quoted safely."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"

"""Raw objects into bronze: contract check, quarantine, idempotent per-object writes.

An object is done once it appears in the source's ingest log. Bronze and quarantine rows are
written with a predicate overwrite on the object keys of the batch, and the log last, so a
crash anywhere followed by a re-run rewrites the same rows instead of adding them twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from featurelake.core.contracts import REASON_COLUMN, SourceContract, apply_contract
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.io.delta import DeltaStore, sql_in
from featurelake.io.raw import RawObject, UnreadableObjectError, fetch_raw_bytes, parse_raw_bytes
from featurelake.settings import Settings

SOURCE_KEY, SOURCE_ETAG, INGESTED_AT = "_source_key", "_source_etag", "_ingested_at"
RAW_CONTENT = "_raw"
_RAW_PREVIEW_BYTES = 4096


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

    @property
    def reconciled(self) -> bool:
        """Every row read is either accepted or quarantined: nothing lost, nothing invented."""
        return self.rows_read == self.accepted.height + self.quarantined.height


@dataclass(frozen=True)
class IngestResult:
    """Counts for one source in one run: rows read = accepted + quarantined."""

    source: str
    objects_new: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    bronze_version: int | None
    source_keys: list[str]

    @property
    def reconciled(self) -> bool:
        """Rows read (counted when parsing) equal rows accepted plus rows quarantined."""
        return self.rows_read == self.rows_accepted + self.rows_quarantined


def ingested_objects(store: DeltaStore, source: str) -> set[tuple[str, str]]:
    """(key, etag) of every object already processed for this source."""
    if store.version(ingest_log_path(source)) is None:
        return set()
    log = store.read(ingest_log_path(source)).select(SOURCE_KEY, SOURCE_ETAG)
    return set(log.iter_rows())


def split_object(settings: Settings, contract: SourceContract, obj: RawObject, now: dt.datetime) -> ObjectBatch:
    """Read one object and split it by the contract; a file that cannot be read is quarantined whole."""
    data = fetch_raw_bytes(settings, obj)
    try:
        raw = parse_raw_bytes(obj.key, data)
        split = apply_contract(contract, raw)
    except (UnreadableObjectError, ValueError) as error:
        # A file rejected whole counts as one record read and one record quarantined.
        preview = data[:_RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")
        record = pl.DataFrame({REASON_COLUMN: [str(error)], RAW_CONTENT: [preview]})
        return ObjectBatch(obj, 1, _stamp(pl.DataFrame(), obj, now), _stamp(record, obj, now))
    rejected = split.rejected.select(
        pl.col(REASON_COLUMN),
        pl.struct(pl.exclude(REASON_COLUMN)).struct.json_encode().alias(RAW_CONTENT),
    )
    return ObjectBatch(obj, raw.height, _stamp(split.accepted, obj, now), _stamp(rejected, obj, now))


def write_batches(
    store: DeltaStore, contract: SourceContract, batches: list[ObjectBatch], run_tags: dict[str, str]
) -> IngestResult:
    """Write quarantine, then bronze, then the log, each idempotent for these objects."""
    keys = [b.obj.key for b in batches]
    predicate = sql_in(SOURCE_KEY, keys)
    metadata = {**run_tags, "featurelake.source": contract.name, "featurelake.objects": len(keys)}
    quarantined = pl.concat([b.quarantined for b in batches], how="diagonal_relaxed")
    accepted = pl.concat([b.accepted for b in batches if b.accepted.height], how="diagonal_relaxed")
    if quarantined.height:
        store.write(
            quarantine_path(contract.name), quarantined, mode="overwrite", predicate=predicate, metadata=metadata
        )
    bronze_version = store.version(bronze_path(contract.name))
    if accepted.height:
        bronze_version = store.write(
            bronze_path(contract.name), accepted, mode="overwrite", predicate=predicate, metadata=metadata
        )
    store.write(
        ingest_log_path(contract.name), _log_rows(batches), mode="overwrite", predicate=predicate, metadata=metadata
    )
    return IngestResult(
        source=contract.name,
        objects_new=len(batches),
        rows_read=sum(b.rows_read for b in batches),
        rows_accepted=accepted.height,
        rows_quarantined=quarantined.height,
        bronze_version=bronze_version,
        source_keys=keys,
    )


def _stamp(frame: pl.DataFrame, obj: RawObject, now: dt.datetime) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(obj.key).alias(SOURCE_KEY),
        pl.lit(obj.etag).alias(SOURCE_ETAG),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias(INGESTED_AT),
    )


def _log_rows(batches: list[ObjectBatch]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            SOURCE_KEY: [b.obj.key for b in batches],
            SOURCE_ETAG: [b.obj.etag for b in batches],
            "rows_accepted": [b.accepted.height for b in batches],
            "rows_quarantined": [b.quarantined.height for b in batches],
        }
    )

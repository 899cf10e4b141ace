"""Raw objects into bronze: contract check, quarantine, idempotent per-object writes.

An object is done once it appears in the source's ingest log. Bronze and quarantine rows are
written with a predicate overwrite on the object keys of the batch, and the log last, so a
crash anywhere followed by a re-run rewrites the same rows instead of adding them twice.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import cast

import polars as pl
import pyarrow as pa

from featurelake.core import commits
from featurelake.core.contracts import REASON_COLUMN, SourceContract, apply_contract
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.core.pii import protect
from featurelake.core.raw_formats import UnreadableObjectError, parse_raw_bytes
from featurelake.io.aws.raw import RawObject, fetch_raw_bytes
from featurelake.io.delta.store import DeltaStore, sql_in
from featurelake.settings import Settings

SOURCE_KEY, SOURCE_ETAG, INGESTED_AT = "_source_key", "_source_etag", "_ingested_at"
RAW_CONTENT = "_raw"
LOG_SCHEMA = pl.Schema(
    {SOURCE_KEY: pl.String, SOURCE_ETAG: pl.String, "rows_accepted": pl.Int64, "rows_quarantined": pl.Int64}
)
_RAW_PREVIEW_BYTES = 4096
_PREVIEW_ROWS = 50


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
    )


def ingested_objects(store: DeltaStore, source: str) -> set[tuple[str, str]]:
    """(key, etag) of every object already processed for this source."""
    if store.version(ingest_log_path(source)) is None:
        return set()
    log = store.read(ingest_log_path(source)).select(SOURCE_KEY, SOURCE_ETAG)
    return set(log.iter_rows())


def split_object(
    settings: Settings, contract: SourceContract, obj: RawObject, now: dt.datetime, pii_key: bytes | None = None
) -> ObjectBatch:
    """Read one object, split it by the contract and protect its personal data (:func:`split_bytes`)."""
    return split_bytes(contract, obj, fetch_raw_bytes(settings, obj), now, pii_key)


def split_bytes(
    contract: SourceContract, obj: RawObject, data: bytes, now: dt.datetime, pii_key: bytes | None = None
) -> ObjectBatch:
    """Split one object's bytes by the contract and protect its personal data; pure (no I/O).

    A file that cannot be read, or breaks the contract as a whole, is quarantined whole as one
    record. Accepted rows and quarantined raw content both go through the PII policies, so
    neither bronze nor quarantine holds a raw personal value. ``featurelake check`` runs sample
    files through this same function.
    """
    try:
        raw = parse_raw_bytes(obj.key, data)
    except UnreadableObjectError as error:
        return _rejected_whole(obj, now, str(error), _unparsed_content(contract, obj, data))
    try:
        split = apply_contract(contract, raw)
    except ValueError as error:
        return _rejected_whole(obj, now, str(error), _parsed_content(contract, raw, data, pii_key))
    accepted = protect(split.accepted, contract.pii, pii_key)
    rejected = protect(split.rejected, contract.pii, pii_key).select(
        pl.col(REASON_COLUMN),
        pl.struct(pl.exclude(REASON_COLUMN)).struct.json_encode().alias(RAW_CONTENT),
    )
    return ObjectBatch(obj, raw.height, _stamp(accepted, obj, now), _stamp(rejected, obj, now))


def _rejected_whole(obj: RawObject, now: dt.datetime, reason: str, content: str) -> ObjectBatch:
    """A file rejected whole counts as one record read and one record quarantined."""
    record = pl.DataFrame({REASON_COLUMN: [reason], RAW_CONTENT: [content]})
    return ObjectBatch(obj, 1, _stamp(pl.DataFrame(), obj, now), _stamp(record, obj, now))


def _unparsed_content(contract: SourceContract, obj: RawObject, data: bytes) -> str:
    """The start of an unreadable file as text, unless it may hold personal data nobody can find in it."""
    if not contract.pii:
        return _preview(data)
    return (
        f"[withheld: source {contract.name!r} declares PII columns {sorted(contract.pii)} and this file "
        f"could not be parsed to protect them; the original stays in the raw bucket as {obj.key} "
        f"(ETag {obj.etag}, {obj.size} bytes)]"
    )


def _parsed_content(contract: SourceContract, raw: pl.DataFrame, data: bytes, pii_key: bytes | None) -> str:
    """The start of a file that parsed but broke the contract as a whole.

    With PII declared, only the declared columns are kept (protected), as NDJSON: an undeclared
    column is exactly where personal data nobody reviewed would be.
    """
    if not contract.pii:
        return _preview(data)
    declared = raw.select(pl.col(c).cast(pl.String) for c in raw.columns if c in contract.columns)
    return protect(declared, contract.pii, pii_key).head(_PREVIEW_ROWS).write_ndjson()[:_RAW_PREVIEW_BYTES]


def _preview(data: bytes) -> str:
    return data[:_RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")


def quarantine_known_keys(store: DeltaStore, contract: SourceContract, batches: list[ObjectBatch]) -> list[ObjectBatch]:
    """Move rows whose primary key bronze (or an earlier object of this batch) already holds to quarantine.

    A producer re-sending a file under a new name must not double its rows in bronze. Rows that
    came from the same object are not duplicates of themselves: a re-run after a crash replaces
    them (the writes overwrite by object key), so bronze rows of these objects are ignored here.
    """
    return quarantine_repeated_keys(contract, batches, _bronze_keys(store, contract, [b.obj.key for b in batches]))


def quarantine_repeated_keys(
    contract: SourceContract, batches: list[ObjectBatch], seen: pl.DataFrame | None = None
) -> list[ObjectBatch]:
    """Move accepted rows whose primary key ``seen`` or an earlier object of ``batches`` holds to quarantine; pure.

    ``seen`` holds the primary keys already in bronze with the object each came from
    (``_first_seen_in``); None means bronze is empty (as for ``featurelake check``).
    """
    keys = list(contract.primary_key)
    seen = _no_keys(contract) if seen is None else seen
    checked = []
    for batch in batches:
        if batch.accepted.height == 0:  # nothing accepted (a file rejected whole has no key columns)
            checked.append(batch)
            continue
        accepted = batch.accepted.join(seen, on=keys, how="left")
        known = accepted["_first_seen_in"].is_not_null()
        moved = accepted.filter(known).select(
            pl.concat_str(
                pl.lit(f"duplicate primary key {keys}: already ingested from "), pl.col("_first_seen_in")
            ).alias(REASON_COLUMN),
            pl.struct(pl.exclude(REASON_COLUMN, "_first_seen_in", SOURCE_KEY, SOURCE_ETAG, INGESTED_AT))
            .struct.json_encode()
            .alias(RAW_CONTENT),
            SOURCE_KEY,
            SOURCE_ETAG,
            INGESTED_AT,
        )
        kept = accepted.filter(~known).drop("_first_seen_in")
        seen = pl.concat([seen, kept.select(*keys, pl.lit(batch.obj.key).alias("_first_seen_in"))])
        quarantined = (
            pl.concat([batch.quarantined, moved], how="diagonal_relaxed") if moved.height else batch.quarantined
        )
        checked.append(ObjectBatch(batch.obj, batch.rows_read, kept, quarantined))
    return checked


def _bronze_keys(store: DeltaStore, contract: SourceContract, excluded_objects: list[str]) -> pl.DataFrame:
    """Primary keys already in bronze, with the object each came from, leaving out the given objects."""
    keys = list(contract.primary_key)
    if store.version(bronze_path(contract.name)) is None:
        return _no_keys(contract)
    bronze = store.read(bronze_path(contract.name), columns=[*keys, SOURCE_KEY])
    return (
        bronze.filter(~pl.col(SOURCE_KEY).is_in(excluded_objects))
        .select(*keys, pl.col(SOURCE_KEY).alias("_first_seen_in"))
        .unique(subset=keys, keep="first")
    )


def _no_keys(contract: SourceContract) -> pl.DataFrame:
    return pl.DataFrame(schema={**{k: contract.columns[k] for k in contract.primary_key}, "_first_seen_in": pl.String})


def write_batches(
    store: DeltaStore,
    contract: SourceContract,
    batches: list[ObjectBatch],
    run_tags: dict[str, str],
    replaced: frozenset[str] = frozenset(),
) -> IngestResult:
    """Write quarantine, then bronze, then the log, each idempotent for these objects.

    ``replaced`` names objects ingested before under another ETag (a producer rewrote them):
    their old rows are removed from a table even when the new version puts none there.
    """
    keys = [b.obj.key for b in batches]
    predicate = sql_in(SOURCE_KEY, keys)
    metadata = {
        **run_tags,
        commits.SOURCE: contract.name,
        commits.OBJECTS: len(keys),
        commits.SOURCE_KEYS: json.dumps(keys),  # which objects this commit holds (audit, re-announcing)
    }
    quarantined = pl.concat([b.quarantined for b in batches], how="diagonal_relaxed")
    with_rows = [b.accepted for b in batches if b.accepted.height]
    accepted = pl.concat(with_rows, how="diagonal_relaxed") if with_rows else pl.DataFrame()  # all files bad
    stale = sorted(replaced & set(keys))
    _replace_rows(store, quarantine_path(contract.name), quarantined, predicate, stale, metadata)
    bronze_version = _replace_rows(store, bronze_path(contract.name), accepted, predicate, stale, metadata)
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
        },
        schema=LOG_SCHEMA,
    )

"""Rows whose primary key is already ingested go to quarantine, not to bronze a second time.

A producer re-sending a file under a new name must not double its rows in bronze: a row whose
primary key bronze holds (from another object), or an earlier object of the same batch holds,
is quarantined with a reason naming the object that has it. Objects are checked in the order
given, so the caller decides which of two copies keeps its rows (ingest: the oldest).
"""

from __future__ import annotations

import dataclasses

import polars as pl

from featurelake.core.contracts import RAW_CONTENT, REASON_COLUMN, SourceContract
from featurelake.core.naming import bronze_path
from featurelake.ingest.bronze import INGESTED_AT, SOURCE_ETAG, SOURCE_KEY, ObjectBatch
from featurelake.io.delta.store import DeltaStore

#: Working column: the object a primary key was first seen in.
_FIRST_SEEN_IN = "_first_seen_in"


def quarantine_known_keys(store: DeltaStore, contract: SourceContract, batches: list[ObjectBatch]) -> list[ObjectBatch]:
    """Move rows whose primary key bronze (or an earlier object of this batch) already holds to quarantine.

    Rows that came from the same object are not duplicates of themselves: a re-run after a crash
    replaces them (the writes overwrite by object key), so bronze rows of these objects are
    ignored here.
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
        batch_checked, seen = _check_batch(batch, keys, seen)
        checked.append(batch_checked)
    return checked


def _check_batch(batch: ObjectBatch, keys: list[str], seen: pl.DataFrame) -> tuple[ObjectBatch, pl.DataFrame]:
    """One object's rows with known keys moved to quarantine, and ``seen`` grown by the keys it kept."""
    if batch.accepted.height == 0:  # nothing accepted (a file rejected whole has no key columns)
        return batch, seen
    accepted = batch.accepted.join(seen, on=keys, how="left")
    known = accepted[_FIRST_SEEN_IN].is_not_null()
    moved = _as_duplicates(accepted.filter(known), keys)
    kept = accepted.filter(~known).drop(_FIRST_SEEN_IN)
    seen = pl.concat([seen, kept.select(*keys, pl.lit(batch.obj.key).alias(_FIRST_SEEN_IN))])
    quarantined = pl.concat([batch.quarantined, moved], how="diagonal_relaxed") if moved.height else batch.quarantined
    return dataclasses.replace(batch, accepted=kept, quarantined=quarantined), seen


def _as_duplicates(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Accepted rows as quarantine rows: the reason names the object that holds their key first."""
    return rows.select(
        pl.concat_str(pl.lit(f"duplicate primary key {keys}: already ingested from "), pl.col(_FIRST_SEEN_IN)).alias(
            REASON_COLUMN
        ),
        pl.struct(pl.exclude(REASON_COLUMN, _FIRST_SEEN_IN, SOURCE_KEY, SOURCE_ETAG, INGESTED_AT))
        .struct.json_encode()
        .alias(RAW_CONTENT),
        SOURCE_KEY,
        SOURCE_ETAG,
        INGESTED_AT,
    )


def _bronze_keys(store: DeltaStore, contract: SourceContract, excluded_objects: list[str]) -> pl.DataFrame:
    """Primary keys already in bronze, with the object each came from, leaving out the given objects."""
    keys = list(contract.primary_key)
    if store.version(bronze_path(contract.name)) is None:
        return _no_keys(contract)
    bronze = store.read(bronze_path(contract.name), columns=[*keys, SOURCE_KEY])
    return (
        bronze.filter(~pl.col(SOURCE_KEY).is_in(excluded_objects))
        .select(*keys, pl.col(SOURCE_KEY).alias(_FIRST_SEEN_IN))
        .unique(subset=keys, keep="first")
    )


def _no_keys(contract: SourceContract) -> pl.DataFrame:
    """An empty ``seen`` frame: the key columns with their contract types, and where each was first seen."""
    return pl.DataFrame(schema={**{k: contract.columns[k] for k in contract.primary_key}, _FIRST_SEEN_IN: pl.String})

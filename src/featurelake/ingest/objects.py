"""One raw object into an :class:`ObjectBatch`: parse, contract, PII policy, rejection of whole files.

Nothing here writes: the batch goes on to the duplicate-key check
(:mod:`featurelake.ingest.duplicates`) and then to the bronze write
(:mod:`featurelake.ingest.bronze`). ``featurelake check`` runs sample files through
:func:`split_bytes`, the same code ingestion runs.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from featurelake.core.contracts import RAW_CONTENT, REASON_COLUMN, SourceContract, apply_contract
from featurelake.core.pii import protect
from featurelake.core.raw_formats import UnreadableObjectError, parse_raw_bytes
from featurelake.core.suppression import Suppressor
from featurelake.ingest.bronze import ObjectBatch, stamp
from featurelake.io.aws.raw import RawObject, fetch_raw_bytes
from featurelake.settings import Settings

#: How much of a file rejected whole quarantine keeps, so a person can see what was wrong with it.
_RAW_PREVIEW_BYTES = 4096
_PREVIEW_ROWS = 50


def split_object(
    settings: Settings,
    contract: SourceContract,
    obj: RawObject,
    now: dt.datetime,
    pii_key: bytes | None = None,
    suppressor: Suppressor | None = None,
) -> ObjectBatch:
    """Read one object, split it by the contract and protect its personal data (:func:`split_bytes`).

    Raises:
        ObjectChangedError: the object was overwritten or deleted since it was listed.
    """
    return split_bytes(contract, obj, fetch_raw_bytes(settings, obj), now, pii_key, suppressor)


def split_bytes(
    contract: SourceContract,
    obj: RawObject,
    data: bytes,
    now: dt.datetime,
    pii_key: bytes | None = None,
    suppressor: Suppressor | None = None,
) -> ObjectBatch:
    """Split one object's bytes by the contract and protect its personal data; pure (no I/O).

    A file that cannot be read, or breaks the contract as a whole, is quarantined whole as one
    record whose reason starts with the object's key (the parser's reasons already do). Accepted
    rows and quarantined raw content both go through the PII policies, so neither bronze nor
    quarantine holds a raw personal value. Rows of erased subjects (``suppressor``) are dropped
    first, on the raw values, and only counted.
    """
    try:
        parsed = parse_raw_bytes(obj.key, data)
    except UnreadableObjectError as error:
        return _rejected_whole(obj, now, str(error), _unparsed_content(contract, obj, data))
    raw = parsed if suppressor is None else parsed.filter(~suppressor.mask(parsed))
    try:
        split = apply_contract(contract, raw)
    except ValueError as error:
        return _rejected_whole(obj, now, f"{obj.key}: {error}", _parsed_content(contract, raw, data, pii_key))
    accepted = protect(split.accepted, contract.pii, pii_key)
    rejected = protect(split.rejected, contract.pii, pii_key).select(
        pl.col(REASON_COLUMN),
        pl.struct(pl.exclude(REASON_COLUMN)).struct.json_encode().alias(RAW_CONTENT),
    )
    suppressed = parsed.height - raw.height
    return ObjectBatch(obj, parsed.height, stamp(accepted, obj, now), stamp(rejected, obj, now), suppressed)


def _rejected_whole(obj: RawObject, now: dt.datetime, reason: str, content: str) -> ObjectBatch:
    """A file rejected whole counts as one record read and one record quarantined."""
    record = pl.DataFrame({REASON_COLUMN: [reason], RAW_CONTENT: [content]})
    return ObjectBatch(obj, 1, stamp(pl.DataFrame(), obj, now), stamp(record, obj, now))


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
    """The first bytes of a file as text (undecodable bytes replaced, never an error)."""
    return data[:_RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")

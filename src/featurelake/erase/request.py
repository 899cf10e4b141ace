"""An erasure request: the subject as keyed hashes under every key the lake's rows were hashed with.

A hashed column holds HMAC(key, value) under whichever key was current at ingest; the bronze
commits record those key ids. The request hashes the value under the current key and under
each retired key still kept (``featurelake pii-key --rotate`` keeps them), and says which
recorded key ids it could not read: rows hashed under those cannot be matched.

A request made for the ``erase`` deployment is stored while it is pending (its hashes are
what the run matches on; the raw value never leaves the command that made it) and removed,
with its files and log statistics, when the erasure completes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl

from featurelake.core.contracts import SourceContract
from featurelake.core.erasure import ErasureError, Subject, subject_of
from featurelake.core.naming import ERASURE_REQUESTS_PATH
from featurelake.ingest.bronze import sql_in
from featurelake.ingest.suppression import pii_key_ids
from featurelake.io.delta.erasure import DeleteOutcome, delete_rows
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.secrets import PiiKeys, read_known_keys
from featurelake.settings import Settings

REQUEST_SCHEMA = pl.Schema(
    {
        "request_id": pl.String(),
        "source": pl.String(),
        "column": pl.String(),
        "kind": pl.String(),
        "key_id": pl.String(),
        "hashes": pl.String(),
        "records": pl.String(),
        "requested_by": pl.String(),
        "requested_at": pl.Datetime("us", "UTC"),
    }
)


def read_keys(settings: Settings, store: DeltaStore, source: str) -> PiiKeys:
    """The current key and the retired keys the source's bronze commits name.

    Raises:
        PiiKeyError: when the current key cannot be read.
    """
    return read_known_keys(settings, pii_key_ids(store, source))


def make_subject(contract: SourceContract, column: str, value: str, keys: PiiKeys) -> Subject:
    """The subject ``column=value`` of ``contract``'s source, hashed under every readable key.

    Raises:
        ErasureError: for an unknown or masked column.
    """
    return subject_of(contract, column, value, keys.keys, keys.current)


def record_pending(store: DeltaStore, subject: Subject, requested_by: str) -> int:
    """Store ``subject`` as a pending request (idempotent per request id); returns the table's version."""
    row = {
        "request_id": subject.request_id,
        "source": subject.source,
        "column": subject.column,
        "kind": subject.kind,
        "key_id": subject.key_id,
        "hashes": json.dumps(dict(subject.hashes), sort_keys=True),
        "records": json.dumps(dict(subject.records), sort_keys=True),
        "requested_by": requested_by,
        "requested_at": datetime.now(UTC),
    }
    frame = pl.DataFrame([row], schema=REQUEST_SCHEMA)
    only_this = sql_in("request_id", [subject.request_id])
    return store.write(ERASURE_REQUESTS_PATH, frame, mode="overwrite", predicate=only_this, metadata={})


def load_pending(store: DeltaStore, request_id: str) -> Subject | None:
    """The pending request ``request_id`` as a subject, or None (never made, or completed and removed)."""
    if store.version(ERASURE_REQUESTS_PATH) is None:
        return None
    rows = store.read(ERASURE_REQUESTS_PATH).filter(pl.col("request_id") == request_id)
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    kind = row["kind"]
    if kind not in ("plain", "hash", "drop"):
        raise ErasureError(f"pending request {request_id} has an unknown match kind {kind!r}")
    return Subject(row["source"], row["column"], kind, row["key_id"], _pairs(row["hashes"]), _pairs(row["records"]))


def drop_pending(store: DeltaStore, request_id: str, metadata: Mapping[str, str]) -> DeleteOutcome | None:
    """Remove a completed request's row (its hashes are what a proof scan looks for)."""
    if store.version(ERASURE_REQUESTS_PATH) is None:
        return None
    return delete_rows(store, ERASURE_REQUESTS_PATH, sql_in("request_id", [request_id]), metadata)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(json.loads(text).items()))

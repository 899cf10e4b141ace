"""The suppression list table, and which PII keys a source's lake tables were hashed with.

An erasure lists its subject here (:func:`add_suppression`, keyed hashes only); every ingest run
loads its source's list once (:func:`load_suppressions`) and drops the listed subjects' raw rows
before anything is written (:mod:`featurelake.core.suppression`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from featurelake.core import commits
from featurelake.core.erasure import Subject
from featurelake.core.naming import SUPPRESSIONS_PATH, bronze_path, quarantine_path
from featurelake.core.suppression import Suppression, Suppressions, Suppressor, suppressor
from featurelake.ingest.bronze import sql_in
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.secrets import read_known_keys
from featurelake.settings import Settings

SUBJECT_HASH = "subject_hash"
_TEXT: pl.DataType = pl.String()
SUPPRESSIONS_SCHEMA = pl.Schema(
    {
        "source": _TEXT,
        "column": _TEXT,
        "key_id": _TEXT,
        SUBJECT_HASH: _TEXT,
        "request_id": _TEXT,
        "added_at": pl.Datetime("us", "UTC"),
    }
)


def add_suppression(store: DeltaStore, subject: Subject, request_id: str) -> int | None:
    """List ``subject`` (one row per key id and hash); the table version, or None if it was listed already.

    Written as a predicate overwrite on the subject's hashes that keeps the rows already there
    (with their request and time), so a re-run or two racing runs leave each hash listed once.
    """
    wanted = [(kid, h) for kid, h in subject.records]  # record hashes: never the hash a hashed column holds
    hashes = sorted({h for _, h in wanted})
    existing = _read(store).filter(pl.col(SUBJECT_HASH).is_in(hashes))
    listed = set(
        existing.filter(pl.col("source") == subject.source, pl.col("column") == subject.column)
        .select("key_id", SUBJECT_HASH)
        .iter_rows()
    )
    new = [(kid, h) for kid, h in wanted if (kid, h) not in listed]
    if not new:
        return None
    now = dt.datetime.now(dt.UTC)
    added = pl.DataFrame(
        [(subject.source, subject.column, kid, h, request_id, now) for kid, h in new],
        schema=SUPPRESSIONS_SCHEMA,
        orient="row",
    )
    metadata = {commits.OPERATION: commits.Operation.ERASE, commits.ERASURE_REQUEST: request_id}
    rows = pl.concat([existing, added])
    return store.write(
        SUPPRESSIONS_PATH, rows, mode="overwrite", predicate=sql_in(SUBJECT_HASH, hashes), metadata=metadata
    )


def load_suppressions(store: DeltaStore, source: str) -> Suppressions:
    """The erased subjects of ``source`` (none when nothing was ever erased)."""
    rows = _read(store).filter(pl.col("source") == source).sort("request_id", "column", "key_id", SUBJECT_HASH)
    entries = tuple(
        Suppression(row["column"], row["key_id"], row[SUBJECT_HASH], row["request_id"])
        for row in rows.iter_rows(named=True)
    )
    return Suppressions(source, entries)


def load_suppressor(settings: Settings, source: str) -> Suppressor | None:
    """The source's erased subjects with the keys (current and retired) to recognise them; read once per run.

    None when nobody was erased: no key is read then.

    Raises:
        PiiKeyError: the current key cannot be read, or some subject's every key is lost.
    """
    suppressions = load_suppressions(DeltaStore(settings), source)
    if not suppressions:
        return None
    keys = read_known_keys(settings, suppressions.key_ids).keys
    return suppressor(suppressions, keys)


def _read(store: DeltaStore) -> pl.DataFrame:
    if store.version(SUPPRESSIONS_PATH) is None:
        return SUPPRESSIONS_SCHEMA.to_frame()
    return store.read(SUPPRESSIONS_PATH).select(SUPPRESSIONS_SCHEMA.names()).cast(SUPPRESSIONS_SCHEMA)


def pii_key_ids(store: DeltaStore, source: str) -> set[str]:
    """The ids of every PII key the source's bronze and quarantine commits were written under.

    An erasure must hash its subject under each of them (current and retired keys) to find the
    rows of a hashed column, whichever key was current when they were ingested.
    """
    found: set[str] = set()
    for path in (bronze_path(source), quarantine_path(source)):
        found |= {str(c[commits.PII_KEY_ID]) for c in store.history(path) if c.get(commits.PII_KEY_ID)}
    return found

"""The ingest log after an erasure: each object's counts (and, once rewritten, its ETag) as the lake now holds it.

The ingest log says what every raw object contributed: rows accepted into bronze, rows
quarantined. An erasure removes some of them, and may rewrite the object itself (a new ETag).
The log is brought in line with the lake in one commit, recounted from the tables rather than
adjusted by differences, so a re-run writes the same rows: read = accepted + quarantined keeps
reconciling, and the next ingest does not take a rewritten object for a new one.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from featurelake.core import commits
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.ingest.bronze import LOG_SCHEMA, SOURCE_ETAG, SOURCE_KEY, ingest_log_path, sql_in
from featurelake.io.delta.store import DeltaStore


def reconcile_ingest_log(
    store: DeltaStore, source: str, keys: list[str], etags: Mapping[str, str], metadata: Mapping[str, str]
) -> int | None:
    """Recount ``keys``' rows in bronze and quarantine and record any new ETag; the log's version (None: unchanged).

    Keys the log never held are left out: an object never ingested has nothing to reconcile.
    """
    path = ingest_log_path(source)
    if not keys or store.version(path) is None:
        return None
    log = store.read(path).filter(pl.col(SOURCE_KEY).is_in(keys)).unique(SOURCE_KEY, keep="last", maintain_order=True)
    if log.is_empty():
        return None
    accepted, quarantined = _per_key(store, bronze_path(source), keys), _per_key(store, quarantine_path(source), keys)
    named = log[SOURCE_KEY].to_list()
    rows = log.with_columns(
        pl.Series(SOURCE_ETAG, [etags.get(k, e) for k, e in zip(named, log[SOURCE_ETAG], strict=True)], pl.String),
        pl.Series("rows_accepted", [accepted.get(k, 0) for k in named], pl.Int64),
        pl.Series("rows_quarantined", [quarantined.get(k, 0) for k in named], pl.Int64),
    ).select(LOG_SCHEMA.names())
    if rows.equals(log.select(LOG_SCHEMA.names())):
        return None
    tags = {**metadata, commits.SOURCE: source}
    return store.write(path, rows.cast(LOG_SCHEMA), mode="overwrite", predicate=sql_in(SOURCE_KEY, keys), metadata=tags)


def _per_key(store: DeltaStore, path: str, keys: list[str]) -> dict[str, int]:
    """Rows per raw object key in the latest snapshot of ``path`` (only ``keys``)."""
    if store.version(path) is None:
        return {}
    counts = store.read(path, columns=[SOURCE_KEY]).filter(pl.col(SOURCE_KEY).is_in(keys)).group_by(SOURCE_KEY).len()
    return dict(zip(counts[SOURCE_KEY].to_list(), counts["len"].to_list(), strict=True))

"""The logical erasure: Delta DELETEs of the subject's rows in every table of the lake that holds them.

Bronze and quarantine hold the subject's rows themselves; predictions and the feature
quarantine hold rows derived from them, found by the subject's primary keys and feature keys.
Each DELETE is one commit that carries the request id and names no value; its predicate (which
delta-rs writes into the commit) is redacted afterwards (:mod:`featurelake.erase.physical`).
Feature tables are not deleted from but rebuilt (:mod:`featurelake.erase.features`).
"""

from __future__ import annotations

from collections.abc import Mapping

from featurelake.core import commits
from featurelake.core.contracts import SourceContract
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.erase.locate import Located, match_predicate
from featurelake.ingest.bronze import INGESTED_AT, SOURCE_ETAG, SOURCE_KEY, sql_in
from featurelake.io.delta.erasure import DeleteOutcome, delete_rows, rewrite_raw_content, set_stats_columns
from featurelake.io.delta.store import DeltaStore


def erasure_metadata(request_id: str, actor: str) -> dict[str, str]:
    """What every commit of an erasure carries: the operation, the request and who asked."""
    return {commits.OPERATION: commits.Operation.ERASE, commits.ERASURE_REQUEST: request_id, commits.ACTOR: actor}


def limit_statistics(store: DeltaStore, contract: SourceContract, metadata: Mapping[str, str]) -> None:
    """From now on, bronze and quarantine of the source keep statistics of the event time and bookkeeping only.

    Builds prune bronze by event time and scoring by object key; nothing prunes it by a personal
    column, whose statistics would copy values into the log where no DELETE reaches them.
    """
    keep = [contract.event_time, SOURCE_KEY, SOURCE_ETAG, INGESTED_AT]
    for path in (bronze_path(contract.name), quarantine_path(contract.name)):
        table = store.table(path)
        if table is not None:
            names = set(table.schema().to_arrow().names)
            set_stats_columns(store, path, [c for c in keep if c in names], metadata)


def delete_located(store: DeltaStore, located: Located, metadata: Mapping[str, str]) -> dict[str, DeleteOutcome]:
    """Delete the located rows from bronze, quarantine, predictions and feature quarantine; by table path.

    Tables with nothing of the subject get no commit.
    """
    subject = located.subject
    done: dict[str, DeleteOutcome] = {}
    if located.values:
        path = bronze_path(subject.source)
        done[path] = delete_rows(store, path, sql_in(subject.column, sorted(located.values)), metadata)
    if located.quarantine_values:
        path = quarantine_path(subject.source)
        done[path] = rewrite_raw_content(store, path, subject.column, located.quarantine_values, metadata)
    for path, rows in located.derived_rows.items():
        if rows:
            done[path] = delete_rows(store, path, match_predicate(located.rows, list(located.derived[path])), metadata)
    return {path: outcome for path, outcome in done.items() if outcome.rows_deleted}

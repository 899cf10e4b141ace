"""One source's backlog of new raw objects into bronze, a bounded chunk of objects per commit.

Chunking keeps memory flat for a backlog of thousands of objects; each chunk is exactly-once on
its own (:func:`featurelake.ingest.bronze.write_batches`), so a crash between chunks loses
nothing and repeats nothing. Each chunk goes through the same three steps: split every object
(:mod:`featurelake.ingest.objects`), move repeated keys to quarantine
(:mod:`featurelake.ingest.duplicates`), write (:mod:`featurelake.ingest.bronze`). Objects come
in upload order (:mod:`featurelake.ingest.order`), and each object's log line is written once
its counts are final: after the duplicate check, and only for what this run committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from featurelake.core.contracts import SourceContract
from featurelake.core.pii import PiiKeyError
from featurelake.core.suppression import Suppressor
from featurelake.ingest.bronze import IngestResult, ObjectBatch, combine_results, ingested_objects, write_batches
from featurelake.ingest.duplicates import quarantine_known_keys
from featurelake.ingest.objects import split_object
from featurelake.io.aws.raw import RawObject
from featurelake.io.aws.s3 import ObjectChangedError, PermanentS3Error
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings


class Log(Protocol):
    """Where progress lines go: a :class:`logging.Logger`, or the flow run's logger in Prefect."""

    def info(self, msg: str, *args: object) -> None:
        """Log a progress line."""

    def warning(self, msg: str, *args: object) -> None:
        """Log something skipped for now, or rows quarantined."""


def needs_pii_key(contract: SourceContract) -> bool:
    """True when the contract hashes a PII column, so the key must be read before splitting."""
    return "hash" in contract.pii.values()


def worth_retrying(error: BaseException) -> bool:
    """True for a failure that may pass on a second try (network, throttling beyond the client's own retries).

    A missing bucket, a denied read or a missing PII key fails the same way every time, so the
    run should fail at once with the message that names it. Retrying is safe: every write is
    idempotent.
    """
    return not isinstance(error, PermanentS3Error | PiiKeyError | KeyError)


@dataclass(frozen=True)
class SourceRun:
    """What every object of one source is split and written with in one run."""

    settings: Settings
    contract: SourceContract
    #: The commit metadata of every write (:func:`featurelake.ingest.bronze.audit_tags`).
    tags: dict[str, str]
    #: The HMAC key for the contract's hashed PII columns (None: the contract hashes none).
    pii_key: bytes | None
    log: Log
    #: The source's erased subjects with the keys to recognise them (None: nobody is erased).
    suppressor: Suppressor | None = None


def ingest_backlog(
    run: SourceRun,
    pending: list[RawObject],
    done: set[tuple[str, str]],
    objects_per_commit: int,
    on_progress: Callable[[float], object] = lambda percent: None,
) -> IngestResult | None:
    """Split, check and write ``pending`` a chunk at a time; None when no object could be read yet.

    ``done`` is the ingest log's (key, ETag) pairs: a pending key already in it was rewritten by
    its producer, so its old rows are replaced. Before each chunk the log is read again, and
    objects another ingest run committed since this one listed them are left to it.
    ``on_progress`` gets the percentage of objects handled after each chunk.

    Raises:
        RuntimeError: an object's counts do not reconcile (nothing of its chunk is written).
    """
    store, replaced = DeltaStore(run.settings), frozenset(key for key, _ in done)
    position = {obj.key: n for n, obj in enumerate(pending, 1)}
    results = []
    for start in range(0, len(pending), objects_per_commit):
        chunk = _not_committed_meanwhile(run, store, pending[start : start + objects_per_commit])
        batches = [b for b in (_split(run, obj) for obj in chunk) if b is not None]
        if batches:
            checked = quarantine_known_keys(store, run.contract, batches)
            results.append(write_batches(store, run.contract, checked, run.tags, replaced=replaced))
            _log_committed(run, checked, results[-1], lambda key: f"{position[key]}/{len(pending)}")
        on_progress(100.0 * min(start + objects_per_commit, len(pending)) / len(pending))
    return combine_results(results) if results else None


def _not_committed_meanwhile(run: SourceRun, store: DeltaStore, chunk: list[RawObject]) -> list[RawObject]:
    """The chunk without the objects another ingest run committed since this one listed them."""
    done_now = ingested_objects(store, run.contract.name)
    taken = [obj.key for obj in chunk if (obj.key, obj.etag) in done_now]
    if taken:
        run.log.info("%d object(s) were committed by another ingest run meanwhile; left to it: %s", len(taken), taken)
    return [obj for obj in chunk if (obj.key, obj.etag) not in done_now]


def _split(run: SourceRun, obj: RawObject) -> ObjectBatch | None:
    """Split one object; None for an object that changed since listing (the next run takes it)."""
    try:
        now = dt.datetime.now(dt.UTC)
        batch = split_object(run.settings, run.contract, obj, now, run.pii_key, run.suppressor)
    except ObjectChangedError as error:
        run.log.warning("skipped for now: %s", error)
        return None
    if not batch.reconciled:
        raise RuntimeError(f"{obj.key}: rows read do not reconcile; nothing was written for this batch")
    return batch


def _log_committed(
    run: SourceRun, checked: list[ObjectBatch], result: IngestResult, progress: Callable[[str], str]
) -> None:
    """One line per object with its final counts; an object another run committed first says so."""
    mine = set(result.source_keys)
    for batch in checked:
        key, accepted, quarantined = batch.obj.key, batch.accepted.height, batch.quarantined.height
        if key in mine:
            counts = f"{batch.rows_read} rows: {accepted} accepted, {quarantined} quarantined"
            counts += f", {batch.rows_suppressed} suppressed (erased subjects)" if batch.rows_suppressed else ""
            run.log.info("read %s: %s (%s)", progress(key), key, counts)
        else:
            run.log.info("read %s: %s (committed first by another ingest run; not counted here)", progress(key), key)

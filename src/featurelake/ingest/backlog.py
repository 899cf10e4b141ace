"""One source's backlog of new raw objects into bronze, a bounded chunk of objects per commit.

Chunking keeps memory flat for a backlog of thousands of objects; each chunk is exactly-once on
its own (:func:`featurelake.ingest.bronze.write_batches`), so a crash between chunks loses
nothing and repeats nothing. Each chunk goes through the same three steps: split every object
(:mod:`featurelake.ingest.objects`), move repeated keys to quarantine
(:mod:`featurelake.ingest.duplicates`), write (:mod:`featurelake.ingest.bronze`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from featurelake.core.contracts import SourceContract
from featurelake.core.pii import PiiKeyError
from featurelake.ingest.bronze import IngestResult, ObjectBatch, combine_results, not_ingested, write_batches
from featurelake.ingest.duplicates import quarantine_known_keys
from featurelake.ingest.objects import split_object
from featurelake.io.aws.raw import RawObject
from featurelake.io.aws.s3 import ObjectChangedError, PermanentS3Error
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Log(Protocol):
    """Where progress lines go: a :class:`logging.Logger`, or the flow run's logger in Prefect."""

    def info(self, msg: str, *args: object) -> None:
        """Log a progress line."""

    def warning(self, msg: str, *args: object) -> None:
        """Log something skipped for now."""


def pending_objects(listed: list[RawObject], done: set[tuple[str, str]]) -> list[RawObject]:
    """The objects to ingest, oldest first (ties by key).

    Oldest first: when a file is re-sent under a new name, the original keeps its rows in bronze
    and the copy's rows go to quarantine as duplicates.
    """
    return sorted(not_ingested(listed, done), key=lambda o: (o.last_modified or _EPOCH, o.key))


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


def ingest_backlog(
    run: SourceRun,
    pending: list[RawObject],
    done: set[tuple[str, str]],
    objects_per_commit: int,
    on_progress: Callable[[float], object] = lambda percent: None,
) -> IngestResult | None:
    """Split, check and write ``pending`` a chunk at a time; None when no object could be read yet.

    ``done`` is the ingest log's (key, ETag) pairs: a pending key already in it was rewritten by
    its producer, so its old rows are replaced. ``on_progress`` gets the percentage of objects
    handled after each chunk.

    Raises:
        RuntimeError: an object's counts do not reconcile (nothing of its chunk is written).
    """
    store, replaced = DeltaStore(run.settings), frozenset(key for key, _ in done)
    results = []
    for start in range(0, len(pending), objects_per_commit):
        chunk = pending[start : start + objects_per_commit]
        split = [_split_logged(run, obj, f"{start + i}/{len(pending)}") for i, obj in enumerate(chunk, 1)]
        batches = [b for b in split if b is not None]
        if batches:
            checked = quarantine_known_keys(store, run.contract, batches)
            results.append(write_batches(store, run.contract, checked, run.tags, replaced=replaced))
        on_progress(100.0 * min(start + objects_per_commit, len(pending)) / len(pending))
    return combine_results(results) if results else None


def _split_logged(run: SourceRun, obj: RawObject, progress: str) -> ObjectBatch | None:
    """Split one object and log its counts; None for an object that changed since listing (next run takes it)."""
    try:
        batch = split_object(run.settings, run.contract, obj, dt.datetime.now(dt.UTC), run.pii_key)
    except ObjectChangedError as error:
        run.log.warning("skipped for now: %s", error)
        return None
    run.log.info(
        "read %s: %s (%d rows: %d accepted, %d quarantined)",
        progress,
        obj.key,
        batch.rows_read,
        batch.accepted.height,
        batch.quarantined.height,
    )
    if not batch.reconciled:
        raise RuntimeError(f"{obj.key}: rows read do not reconcile; nothing was written for this batch")
    return batch

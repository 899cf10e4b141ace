"""Find raw objects no ingest has processed yet and announce each as ``featurelake.raw-object.landed``.

The watcher is the S3-event path for places without EventBridge (the local stack, other
S3-compatible stores) and the safety net behind it on AWS: it builds the very event the
forwarder in ``infra/forwarder`` builds, with the same deterministic id, so an object announced
by both is one event in Prefect. Announcing is safe to repeat: the ingest log, not the event,
decides what is ingested, and Prefect drops a repeated id within its deduplication window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from featurelake.core import events
from featurelake.core.contracts import SourceContract
from featurelake.ingest.bronze import ingested_objects, not_ingested
from featurelake.io.aws.raw import RawObject, list_raw_objects
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.settings import Settings


@dataclass(frozen=True)
class PendingObject:
    """A raw object of a known source that is not in that source's ingest log."""

    source: str
    obj: RawObject


def pending_objects(settings: Settings, contracts: Iterable[SourceContract]) -> list[PendingObject]:
    """Every object under each source's prefix whose (key, ETag) no ingest has recorded."""
    store = DeltaStore(settings)
    pending: list[PendingObject] = []
    for contract in contracts:
        done = ingested_objects(store, contract.name)
        listed = list_raw_objects(settings, contract.raw_prefix)
        pending += [PendingObject(contract.name, o) for o in not_ingested(listed, done)]
    return pending


def count_by_source(contracts: Iterable[SourceContract], pending: list[PendingObject]) -> dict[str, int]:
    """How many pending objects each source has (zero included: the watch flow reports every source)."""
    return {contract.name: sum(1 for p in pending if p.source == contract.name) for contract in contracts}


def landed_event(bucket: str, item: PendingObject) -> tuple[str, dict[str, str], events.RawObjectLanded]:
    """The resource id, resource labels and payload announcing one object (shared with the forwarder)."""
    resource_id = events.raw_object_resource_id(bucket, item.obj.key)
    labels = {"featurelake.source": item.source, "featurelake.bucket": bucket, "featurelake.etag": item.obj.etag}
    payload = events.RawObjectLanded(
        bucket=bucket, key=item.obj.key, etag=item.obj.etag, size=item.obj.size, source=item.source
    )
    return resource_id, labels, payload


def announce_landed(settings: Settings, pending: list[PendingObject]) -> list[str]:
    """Emit one landed event per pending object; returns the event ids."""
    ids = []
    for item in pending:
        resource_id, labels, payload = landed_event(settings.raw_bucket, item)
        emitted = emit(events.RAW_OBJECT_LANDED, resource_id, payload, discriminator=item.obj.etag, labels=labels)
        ids.append(str(emitted))
    return ids

"""The watcher: pending objects are announced with deterministic ids, once per object version.

The same object announced by the watcher and forwarded from EventBridge by the AWS forwarder is
one event in Prefect, because both build the same id, resource and payload.
"""

from __future__ import annotations

from types import ModuleType

from featurelake.core.events import RAW_OBJECT_LANDED, raw_object_event_id, raw_object_resource_id
from featurelake.ingest.watcher import announce_landed, pending_objects
from featurelake.settings import Settings
from features.sources import SOURCES
from flows.ingest import ingest
from flows.watch import watch_raw
from tests.integration.helpers import by_id, demo_objects, upload, wait_for_events
from tests.integration.test_forwarder import api_url, forwarder, s3_event

__all__ = ["api_url", "forwarder"]  # fixtures shared with the forwarder tests


def test_pending_objects_are_announced_with_deterministic_ids_until_ingested(settings: Settings) -> None:
    keys = upload(settings, demo_objects())
    pending = pending_objects(settings, SOURCES.values())
    assert sorted(p.obj.key for p in pending) == sorted(keys)

    ids = announce_landed(settings, pending)
    again = announce_landed(settings, pending_objects(settings, SOURCES.values()))

    assert ids == again
    assert ids == [str(raw_object_event_id(settings.raw_bucket, p.obj.key, p.obj.etag)) for p in pending]
    first = pending[0]
    (stored,) = wait_for_events(by_id(ids[0]))
    assert stored.event == RAW_OBJECT_LANDED
    assert stored.resource.id == raw_object_resource_id(settings.raw_bucket, first.obj.key)
    assert stored.payload["source"] == first.source
    assert stored.payload["size"] == first.obj.size

    ingest()

    assert pending_objects(settings, SOURCES.values()) == []
    assert watch_raw() == {"fraud_labels": 0, "transactions": 0}


def test_watcher_and_forwarder_announce_one_object_as_one_event(
    settings: Settings, forwarder: ModuleType, api_url: str
) -> None:
    (key,) = upload(settings, {"transactions/both-paths.csv": b"txn_id\nt1\n"})
    (item,) = [p for p in pending_objects(settings, SOURCES.values()) if p.obj.key == key]

    (watcher_id,) = announce_landed(settings, [item])
    forwarded = forwarder.handler(s3_event(settings.raw_bucket, key, item.obj.etag, size=item.obj.size), None)

    assert forwarded["event_id"] == watcher_id
    events = wait_for_events(by_id(watcher_id))
    assert len(events) == 1

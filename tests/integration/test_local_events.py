"""The local stack's event source on a real moto server and the Prefect test server.

An object put into the raw bucket reaches Prefect as the watcher's own landed event (same id,
resource and payload) without any flow run; duplicate and redelivered notifications announce
the same ids again and leave the queue empty.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.events.filters import EventFilter, EventIDFilter, EventOccurredFilter

from featurelake.core.events import RAW_OBJECT_LANDED, raw_object_event_id, raw_object_resource_id
from featurelake.ingest.watcher import PendingObject, landed_event
from featurelake.io.aws.queue import RawEventQueue
from featurelake.io.aws.raw import list_raw_objects
from featurelake.local.events import relay
from featurelake.local.processes import Service, free_port, start_service
from featurelake.settings import Settings
from tests.integration.helpers import by_id, upload, wait_for_events

CSV = b"txn_id,amount\nt1,1.5\n"


def future_event(event_id: uuid.UUID) -> EventFilter:
    """A filter for one event that may occur after the filter is built (the default window ends at "now")."""
    until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return EventFilter(id=EventIDFilter(id=[event_id]), occurred=EventOccurredFilter(until=until))


@pytest.fixture
def queue(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> RawEventQueue:
    """A fresh queue that the test's raw bucket notifies of every created object."""
    name = f"raw-events-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FEATURELAKE_RAW_EVENTS_QUEUE", name)
    subscribed = RawEventQueue(settings, name)
    subscribed.subscribe_raw_bucket()
    return subscribed


@pytest.fixture
def event_source(settings: Settings, queue: RawEventQueue, tmp_path: Path) -> Iterator[Service]:
    """``python -m featurelake.local.events`` as the stack starts it, pointed at the test's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    port = free_port()
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "featurelake.local.events", "--health-port", str(port)]
    service = start_service("events", command, env, tmp_path, f"http://127.0.0.1:{port}", "/health", 120)
    yield service
    service.stop()


def test_an_uploaded_object_becomes_the_watchers_landed_event(settings: Settings, event_source: Service) -> None:
    (key,) = upload(settings, {"transactions/arrived.csv": CSV})
    (listed,) = list_raw_objects(settings, "transactions/")

    (stored,) = wait_for_events(future_event(raw_object_event_id(settings.raw_bucket, key, listed.etag)), timeout=60)

    resource_id, labels, payload = landed_event(settings.raw_bucket, PendingObject("transactions", listed))
    assert stored.event == RAW_OBJECT_LANDED
    assert stored.resource.id == resource_id == raw_object_resource_id(settings.raw_bucket, key)
    assert {k: stored.resource[k] for k in labels} == labels
    assert stored.payload == payload.model_dump(mode="json")
    log = event_source.log_path.read_text()
    assert f"announced {key} (etag {listed.etag})" in log


def test_duplicate_and_redelivered_notifications_announce_one_event_and_empty_the_queue(
    settings: Settings, queue: RawEventQueue
) -> None:
    objects = {"transactions/twice.csv": CSV}
    upload(settings, objects)
    upload(settings, objects)  # a producer retrying: same bytes, same ETag, a second notification
    (listed,) = list_raw_objects(settings, "transactions/")
    dropped = queue.receive(wait_seconds=1, visibility_seconds=0)  # a relay that died before deleting

    announced = relay(settings, queue, wait_seconds=1)

    assert len(dropped) == 3  # S3's test event and the two notifications, visible again at once
    assert announced == 2
    assert queue.backlog() == 0
    events = wait_for_events(by_id(raw_object_event_id(settings.raw_bucket, "transactions/twice.csv", listed.etag)))
    assert len(events) == 1

"""The watcher: pending objects are announced with deterministic ids, once per object version.

The same object announced by the watcher and forwarded from EventBridge by the AWS forwarder is
one event in Prefect, because both build the same id, resource and payload. A scheduled look that
finds nothing new (the usual case for a safety net) leaves no event and no artifact behind.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import ModuleType
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventRelatedFilter
from prefect.types._datetime import now

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


def _watch() -> uuid.UUID:
    """Run the watch flow once; the id of its flow run."""
    state: Any = watch_raw(return_state=True)
    assert state.is_completed(), state
    run_id: uuid.UUID = state.state_details.flow_run_id
    return run_id


def _featurelake_events_of(run_id: uuid.UUID) -> EventFilter:
    """Every featurelake.* event emitted inside the flow run (Prefect relates them to it)."""
    since = now("UTC") - timedelta(minutes=10)
    return EventFilter(
        occurred=EventOccurredFilter(since=since, until=since + timedelta(hours=1)),
        event=EventNameFilter(prefix=["featurelake."]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"]),
    )


def _artifacts_of(run_id: uuid.UUID) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))


def test_a_look_that_finds_nothing_new_emits_no_event_and_creates_no_artifact(settings: Settings) -> None:
    (key,) = upload(settings, dict(list(demo_objects().items())[:1]))
    busy = _watch()
    (announced,) = wait_for_events(_featurelake_events_of(busy))  # the query sees what a look emits
    assert announced.resource.id == raw_object_resource_id(settings.raw_bucket, key)
    ingest()

    idle = _watch()
    # Events leave this process in order: once a later one is stored, anything the idle look
    # had emitted would be stored too.
    marker = emit_event(event="featurelake-test.marker", resource={"prefect.resource.id": f"test.{uuid.uuid4()}"})
    assert marker is not None
    assert wait_for_events(by_id(marker.id))

    assert wait_for_events(_featurelake_events_of(idle), timeout=0) == []
    assert _artifacts_of(busy) == []
    assert _artifacts_of(idle) == []

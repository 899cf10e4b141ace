"""Small helpers shared by integration tests (no mocks: real S3, Delta, MLflow, Prefect)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventIDFilter

from featurelake.local import synthetic
from featurelake.settings import Settings

DATA = synthetic.generate()


def demo_objects() -> dict[str, bytes]:
    """The demo's raw objects: transactions by day (parquet/CSV) and two label batches."""
    return synthetic.raw_objects(DATA)


def upload(settings: Settings, objects: dict[str, bytes]) -> list[str]:
    """Put objects into the test's raw bucket."""
    return synthetic.upload(settings, objects)


def wait_for_events(event_filter: EventFilter, count: int = 1, timeout: float = 30.0) -> list[Any]:
    """Events matching the filter, polled until ``count`` are stored (persistence is asynchronous).

    The filter must be built after the events occurred: its default time window ends when it is built.
    """
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            events = client.read_events(filter=event_filter, limit=50).events
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.2)


def by_id(event_id: uuid.UUID | str) -> EventFilter:
    """A filter for the one event with this id."""
    return EventFilter(id=EventIDFilter(id=[uuid.UUID(str(event_id))]))

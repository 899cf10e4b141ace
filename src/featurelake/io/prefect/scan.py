"""Everything the Prefect API keeps that a person's value could have reached, for an erasure proof.

Artifacts (data and description), flow-run logs, flow runs' parameters and events, paged
through the API (``PREFECT_API_URL``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

_PAGE = 200
_EVENTS_PAGE = 50  # the events API refuses more per page
T = TypeVar("T")


def prefect_contents(notes: list[str]) -> Iterator[tuple[str, str]]:
    """(location, text) of every artifact, log line, flow run's parameters and event the API returns.

    When the API refuses to list events (an older server, Cloud without the scope), that is
    appended to ``notes`` instead of failing the whole proof.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield from _paged(lambda offset: client.read_artifacts(limit=_PAGE, offset=offset), _artifact)
        yield from _paged(lambda offset: client.read_logs(limit=_PAGE, offset=offset), _log)
        yield from _paged(lambda offset: client.read_flow_runs(limit=_PAGE, offset=offset), _flow_run)
        try:
            yield from _events(client)
        except Exception as error:
            notes.append(f"prefect events not searched: the API refused to list them ({type(error).__name__})")


def _paged(read: Callable[[int], Sequence[T]], describe: Callable[[T], tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Every item ``read(offset)`` returns, a page at a time, as ``describe`` puts it."""
    offset = 0
    while True:
        page = read(offset)
        for item in page:
            yield describe(item)
        if len(page) < _PAGE:
            return
        offset += _PAGE


def _artifact(artifact: Any) -> tuple[str, str]:
    text = json.dumps({"data": artifact.data, "description": artifact.description}, default=str)
    return f"prefect artifact {artifact.key or artifact.id}", text


def _log(log: Any) -> tuple[str, str]:
    return f"prefect log {log.id} of flow run {log.flow_run_id}", str(log.message)


def _flow_run(run: Any) -> tuple[str, str]:
    return f"prefect flow run {run.id} ({run.name}) parameters", json.dumps(run.parameters, default=str)


def _events(client: Any) -> Iterator[tuple[str, str]]:
    """Every event the server keeps (its retention decides how far back that is)."""
    from prefect.events.filters import EventFilter, EventOccurredFilter
    from prefect.types import DateTime

    window = EventFilter(
        occurred=EventOccurredFilter(since=DateTime(2000, 1, 1, tzinfo=dt.UTC), until=DateTime.now(dt.UTC))
    )
    page = client.read_events(filter=window, limit=_EVENTS_PAGE)
    while page is not None:
        for event in page.events:
            yield f"prefect event {event.id} ({event.event})", event.model_dump_json()
        page = client.read_events_page(page.next_page) if page.next_page else None

"""When Prefect received each raw object's landed event: the upload order that S3's listing cannot give.

S3 reports ``LastModified`` in whole seconds (ListObjectsV2, HeadObject and object versions alike,
on AWS and on moto), so objects uploaded within one second tie. The
``featurelake.raw-object.landed`` event of an object version has a deterministic id
(:func:`featurelake.core.events.raw_object_event_id`); Prefect keeps the first event of an id and
stamps it with the time it arrived. An announcer that announces objects as they are uploaded (the
EventBridge forwarder on AWS, the S3-notification relay of the local stack) therefore records
their upload order at sub-second precision.
"""

from __future__ import annotations

import datetime as dt

from featurelake.core.events import raw_object_event_id

#: Events per request: the Prefect server's largest page.
_PAGE = 50


def landed_arrivals(bucket: str, objects: list[tuple[str, str]]) -> dict[tuple[str, str], dt.datetime]:
    """When the landed event of each (key, ETag) reached Prefect; objects nobody announced are left out.

    Reads by event id, so only these objects' events are fetched, ``_PAGE`` ids per request.
    """
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventIDFilter, EventOccurredFilter

    by_id = {raw_object_event_id(bucket, key, etag): (key, etag) for key, etag in objects}
    ids = list(by_id)
    until = EventOccurredFilter.model_validate({"until": dt.datetime.now(dt.UTC) + dt.timedelta(days=1)})
    arrivals: dict[tuple[str, str], dt.datetime] = {}
    with get_client(sync_client=True) as client:
        for start in range(0, len(ids), _PAGE):
            page = EventIDFilter(id=ids[start : start + _PAGE])
            found = EventFilter(id=page, occurred=until)  # the default window ends now; a clock may run ahead
            for event in client.read_events(filter=found, limit=_PAGE).events:
                arrivals[by_id[event.id]] = event.received
    return arrivals

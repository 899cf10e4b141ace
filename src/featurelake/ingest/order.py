"""Which raw object comes first: the one uploaded first keeps the rows another object repeats.

Objects are taken oldest first, because a producer re-sending a file under a new name must see
the copy quarantined, not the original (:mod:`featurelake.ingest.duplicates` keeps the first
object's rows). "Oldest" is S3's ``LastModified``, which S3 reports in whole seconds: on AWS and
on the local moto server alike, ListObjectsV2, HeadObject and object versions all say
``…:45.000Z``, and version ids are opaque. Objects uploaded within one second therefore tie, and
the tie is broken by when each object's ``featurelake.raw-object.landed`` event reached Prefect
(:mod:`featurelake.io.prefect.landed`): that is the upload order whenever the announcer saw the
uploads one by one. Objects nobody announced come after the announced ones of their second, and
what is still tied goes by key.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

from featurelake.ingest.backlog import Log
from featurelake.ingest.bronze import not_ingested
from featurelake.io.aws.raw import RawObject
from featurelake.io.prefect.landed import landed_arrivals

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)
Arrivals = dict[tuple[str, str], dt.datetime]


def pending_objects(
    listed: list[RawObject], done: set[tuple[str, str]], arrivals: Arrivals | None = None
) -> list[RawObject]:
    """The objects to ingest in upload order: ``LastModified``, then landed-event arrival, then key."""
    return in_upload_order(not_ingested(listed, done), arrivals or {})


def in_upload_order(objects: list[RawObject], arrivals: Arrivals) -> list[RawObject]:
    """``objects`` sorted by ``LastModified``, then landed-event arrival (unannounced last), then key."""

    def upload_order(o: RawObject) -> tuple[dt.datetime, dt.datetime, str]:
        return (o.last_modified or _EPOCH, arrivals.get((o.key, o.etag), _NEVER), o.key)

    return sorted(objects, key=upload_order)


def same_second(objects: list[RawObject]) -> list[RawObject]:
    """The objects whose ``LastModified`` another of them shares: only these need the events' order."""
    seconds = Counter(o.last_modified for o in objects)
    return [o for o in objects if seconds[o.last_modified] > 1]


def upload_ordered(
    bucket: str,
    listed: list[RawObject],
    done: set[tuple[str, str]],
    log: Log,
    read_arrivals: Callable[[str, list[tuple[str, str]]], Arrivals] = landed_arrivals,
) -> list[RawObject]:
    """:func:`pending_objects`, reading landed events (``read_arrivals``) only when objects tie on ``LastModified``.

    The events are a hint: when they cannot be read, ties go by key, with a warning.
    """
    pending = pending_objects(listed, done)
    tied = same_second(pending)
    if not tied:
        return pending
    try:
        arrivals = read_arrivals(bucket, [(o.key, o.etag) for o in tied])
    except Exception as error:  # the order is a hint; ingesting must not depend on the events API
        log.warning(
            "%d object(s) share an upload second and their landed events could not be read (%s); "
            "taking them in key order",
            len(tied),
            error,
        )
        return pending
    return in_upload_order(pending, arrivals)

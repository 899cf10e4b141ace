"""The local stack's event source: raw-bucket notifications in SQS become ``featurelake.raw-object.landed``.

On AWS, S3 → EventBridge → ``infra/forwarder`` announces every object a producer writes. The
local stack has the same shape: moto delivers the raw bucket's ObjectCreated notifications to an
SQS queue on its endpoint, and this long-running process (``python -m featurelake.local.events``,
started by :class:`~featurelake.local.stack.LocalStack`) announces each object with the watcher's
own event (:func:`featurelake.ingest.watcher.announce_landed`: same id, resource and payload), so
an object announced by both paths is one event in Prefect. It long-polls the queue (20 s), so an
idle stack costs one cheap request per 20 s and no flow runs.

A message is deleted only after its events were handed to Prefect; a redelivered or duplicated
message announces the same ids again, which Prefect drops. What it does goes to its log
(``<state dir>/logs/events.log``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from featurelake.core.events import raw_object_source
from featurelake.ingest.watcher import PendingObject, announce_landed
from featurelake.io.aws.queue import QueueMessage, RawEventQueue
from featurelake.io.aws.raw import RawObject
from featurelake.io.aws.s3 import ensure_bucket
from featurelake.settings import Settings, get_settings

log = logging.getLogger("featurelake.local.events")
#: How long to wait after a failed round (endpoint or server restarting) before the next one.
RETRY_SECONDS = 5.0


def relay(settings: Settings, queue: RawEventQueue, wait_seconds: int = 20) -> int:
    """Receive one batch of notifications, announce their objects, delete them; objects announced.

    Messages stay in the queue (and come back after their visibility timeout) when the Prefect
    API is unreachable or the events could not be flushed to it.
    """
    messages = queue.receive(wait_seconds)
    if not messages:
        return 0
    if not _prefect_reachable():
        log.warning("Prefect API unreachable: %d message(s) left in the queue for redelivery", len(messages))
        return 0
    pending = _pending(settings, messages)
    ids = announce_landed(settings, pending)
    if not _flush_events():
        log.warning("events not flushed to Prefect in time: %d message(s) left for redelivery", len(messages))
        return 0
    for item, event_id in zip(pending, ids, strict=True):
        log.info("announced %s (etag %s) as event %s", item.obj.key, item.obj.etag, event_id)
    queue.delete(messages)
    log.info("deleted %d handled message(s)", len(messages))
    return len(pending)


def _pending(settings: Settings, messages: list[QueueMessage]) -> list[PendingObject]:
    """The announced objects of the raw bucket, with the forwarder's rule for the source (first key segment)."""
    pending = []
    for message in messages:
        if not message.objects:
            log.info("message %s announces no created object (e.g. S3's test event): dropped", message.message_id)
        for obj in message.objects:
            if obj.bucket != settings.raw_bucket:
                log.warning("ignored s3://%s/%s: not the raw bucket %s", obj.bucket, obj.key, settings.raw_bucket)
                continue
            pending.append(PendingObject(raw_object_source(obj.key), RawObject(obj.key, obj.etag, obj.size)))
    return pending


def _prefect_reachable() -> bool:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.api_healthcheck() is None


def _flush_events(timeout: float = 60.0) -> bool:
    """Wait until Prefect's background events worker has sent everything emitted so far."""
    from prefect.events.worker import EventsWorker

    outcome = EventsWorker.drain_all(timeout=timeout, at_exit=False)
    return not outcome[1] if isinstance(outcome, tuple) else True


class _Health(BaseHTTPRequestHandler):
    """``GET /health`` answers 200 once the queue is subscribed: the stack waits for it."""

    def do_GET(self) -> None:
        """Answer every path; only the stack's start-up asks."""
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: object) -> None:
        """Keep health checks out of the log."""


def _serve_health(port: int) -> None:
    server = HTTPServer(("127.0.0.1", port), _Health)
    # A long poll interval: serve_forever still answers at once, but wakes up only hourly when idle.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 3600}, daemon=True).start()


def run(settings: Settings, health_port: int | None, wait_seconds: int = 20) -> None:
    """Subscribe the queue to the raw bucket, then relay notifications until the process is stopped."""
    ensure_bucket(settings, settings.raw_bucket)
    queue = RawEventQueue(settings, settings.raw_events_queue)
    url = queue.subscribe_raw_bucket()
    log.info(
        "raw bucket %s notifies %s of created objects; long-polling it (%d s)", settings.raw_bucket, url, wait_seconds
    )
    if health_port:
        _serve_health(health_port)
    while True:
        try:
            relay(settings, queue, wait_seconds)
        except Exception:  # an endpoint restarting must not end the event source: try again
            log.exception("relaying notifications failed; trying again in %.0f s", RETRY_SECONDS)
            time.sleep(RETRY_SECONDS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m featurelake.local.events``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--health-port", type=int, default=None, help="answer GET /health on this loopback port")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for chatty in ("httpx", "botocore"):  # their per-request INFO lines would bury ours
        logging.getLogger(chatty).setLevel(logging.WARNING)
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)  # Prefect's "still processing items" per flush
    try:
        run(get_settings(), args.health_port)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

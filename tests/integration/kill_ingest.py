"""Run the ingest flow in a child process that can die by SIGKILL at a chosen point (exactly-once tests).

Usage: ``python -m tests.integration.kill_ingest [--kill WHEN:TABLE] [--sync-at POINT --sync-dir DIR]``

``TABLE`` is ``quarantine``, ``bronze`` or ``log`` of the ``transactions`` source (written in that
order), and ``WHEN`` is where the process kills itself, deterministically:

- ``before``: before the write starts;
- ``inside``: its data files are uploaded and its commit is not: delta-rs talks to S3 through a
  small forwarding proxy here, which kills the process when the commit's ``_delta_log`` PUT
  arrives after a data file PUT, and never forwards that PUT;
- ``after``: right after the write returns, its commit landed.

``--sync-at`` makes the process wait for the other parties (files in ``--sync-dir``) at a point
(``flow``: before the flow starts, or before the first write to a table), so that concurrent
ingests overlap. On success the last stdout line is ``RESULT {"rows": ..., "conflicts": n}``,
where ``conflicts`` counts commit races that :class:`DeltaStore` retried.

The environment carries the settings (``FEATURELAKE_*``) and the Prefect API URL.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.ingest.bronze import ingest_log_path
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from tests.integration.s3_forward import forward

SOURCE = "transactions"
TABLES = {"quarantine": quarantine_path(SOURCE), "bronze": bronze_path(SOURCE), "log": ingest_log_path(SOURCE)}
WHEN = ("before", "inside", "after")
TRAP_NOT_SPRUNG = 3  # exit code: an ``inside`` kill point was armed but no commit PUT came


def die() -> None:
    """Die as a power cut would: no exception handlers, no flow-run bookkeeping, no flushing."""
    os.kill(os.getpid(), signal.SIGKILL)


class CommitTrap:
    """A forwarding HTTP proxy to the S3 endpoint that can kill the process at a Delta commit.

    While armed, it waits for a data upload (any PUT or POST outside ``_delta_log``) and then
    kills the process when the next ``_delta_log`` PUT (the commit) arrives, before forwarding
    it. A ``_delta_log`` PUT before any data (the empty create of a missing table) passes.
    """

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.armed = False
        self.data_uploaded = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def arm(self) -> None:
        self.armed, self.data_uploaded = True, False

    def disarm(self) -> None:
        self.armed = False

    def _on_request(self, method: str, path: str) -> None:
        if not self.armed or method not in ("PUT", "POST"):
            return
        if "/_delta_log/" not in path:
            self.data_uploaded = True
        elif self.data_uploaded:
            die()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        trap = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: delta-rs makes many requests."""

            def _forward(self) -> None:
                trap._on_request(self.command, self.path)
                forward(self, *trap.upstream)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

        return Forward


def sync(directory: Path, point: str, parties: int, timeout: float = 120.0) -> None:
    """Wait until ``parties`` processes reached ``point`` (a file each in ``directory``)."""
    (directory / f"{point}.{uuid.uuid4().hex}").touch()
    deadline = time.monotonic() + timeout
    while len(list(directory.glob(f"{point}.*"))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"sync point {point!r}: the other parties did not arrive in {timeout}s")
        time.sleep(0.005)


def install_hooks(kill: tuple[str, str] | None, at_write: Callable[[str], None]) -> None:
    """Wrap ``DeltaStore.write``: kill before, inside or after a write to the chosen table."""
    when, table = kill or ("", "")
    trap = None
    if when == "inside":
        endpoint = Settings().s3_endpoint_url
        assert endpoint, "the inside kill points proxy the S3 endpoint: set FEATURELAKE_S3_ENDPOINT_URL"
        trap = _route_delta_through(CommitTrap(endpoint))
    original = DeltaStore.write

    def write(self: DeltaStore, path: str, frame: Any, **options: Any) -> int:
        """The real write, with the sync point and the kill point around it."""
        at_write(path)
        target = path == TABLES.get(table)
        if target and when == "before":
            die()
        if target and trap is not None:
            trap.arm()
        version = original(self, path, frame, **options)
        if target and trap is not None:
            trap.disarm()
            print(f"kill point inside:{table}: the commit was never attempted", flush=True)
            os._exit(TRAP_NOT_SPRUNG)
        if target and when == "after":
            die()
        return version

    DeltaStore.write = write  # type: ignore[method-assign]


def _route_delta_through(trap: CommitTrap) -> CommitTrap:
    """Point delta-rs (only) at the trap; boto3 reads of the raw bucket go to S3 directly."""
    original = Settings.delta_storage_options

    def options(self: Settings) -> dict[str, str]:
        return {**original(self), "AWS_ENDPOINT_URL": trap.url}

    Settings.delta_storage_options = options  # type: ignore[method-assign]
    return trap


class RetryCounter(logging.Handler):
    """Counts the commit races :class:`DeltaStore` retried (its debug lines)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "lost a commit race" in record.getMessage():
            self.count += 1


@contextmanager
def counting_retries() -> Iterator[RetryCounter]:
    counter = RetryCounter()
    delta_logger = logging.getLogger("featurelake.io.delta.store")
    delta_logger.setLevel(logging.DEBUG)
    delta_logger.addHandler(counter)
    try:
        yield counter
    finally:
        delta_logger.removeHandler(counter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill", help="WHEN:TABLE, e.g. inside:bronze")
    parser.add_argument("--sync-at", choices=["flow", *TABLES], help="wait for the other parties here")
    parser.add_argument("--sync-dir", type=Path)
    parser.add_argument("--parties", type=int, default=2)
    args = parser.parse_args()
    kill = None
    if args.kill:
        when, _, table = args.kill.partition(":")
        if when not in WHEN or table not in TABLES:
            parser.error(f"--kill takes WHEN:TABLE with WHEN in {WHEN} and TABLE in {sorted(TABLES)}")
        kill = (when, table)
    synced: set[str] = set()

    def at_write(path: str) -> None:
        if args.sync_at in TABLES and path == TABLES[args.sync_at] and args.sync_at not in synced:
            synced.add(args.sync_at)
            sync(args.sync_dir, args.sync_at, args.parties)

    from flows.ingest import ingest  # Prefect and the flow: the slow part, done before syncing

    install_hooks(kill, at_write)
    with counting_retries() as counter:
        if args.sync_at == "flow":
            sync(args.sync_dir, "flow", args.parties)
        rows = ingest()
    print("RESULT " + json.dumps({"rows": rows, "conflicts": counter.count}, default=str), flush=True)


if __name__ == "__main__":
    main()

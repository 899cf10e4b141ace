"""A flaky S3 endpoint for the retry tests, in its own process: the first GET of every object gets 503 SlowDown.

Usage: ``python -m tests.integration.flaky_s3 --upstream URL --port PORT --failed-file PATH``

It forwards everything else to the real endpoint and appends each path it refused to
``--failed-file`` (one per line), so the test can check that every raw object was refused once.

Why a process and not a thread of the test: deltalake 1.6's ``DeltaTable.history()`` keeps the
GIL while it waits for S3, so a proxy thread in the same interpreter cannot answer it and the
call times out after 180 s (measured). Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from tests.integration.s3_forward import forward

SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


class FlakyS3(BaseHTTPRequestHandler):
    """Forwards to the real endpoint, but answers the first GET of every object with 503 SlowDown."""

    upstream: ClassVar[str] = ""
    failed_file: ClassVar[Path] = Path()
    failed: ClassVar[set[str]] = set()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            first = self.path not in self.failed and "?" not in self.path  # objects, not listings
            if first:
                self.failed.add(self.path)
                with self.failed_file.open("a") as out:
                    out.write(self.path + "\n")
        if not first:
            self._forward()
            return
        self.send_response(503)
        self.send_header("Content-Length", str(len(SLOW_DOWN)))
        self.end_headers()
        self.wfile.write(SLOW_DOWN)

    def _forward(self) -> None:
        target = urlsplit(self.upstream)
        forward(self, target.hostname or "127.0.0.1", target.port)

    do_HEAD = do_PUT = do_POST = do_DELETE = _forward  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: delta-rs makes many requests."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--failed-file", type=Path, required=True)
    args = parser.parse_args()
    FlakyS3.upstream, FlakyS3.failed_file = args.upstream, args.failed_file
    ThreadingHTTPServer(("127.0.0.1", args.port), FlakyS3).serve_forever()


if __name__ == "__main__":
    main()

"""Forward one HTTP request to the real S3 endpoint and relay its answer: the core of the test proxies.

The proxies (``flaky_s3``: fails first GETs; ``kill_ingest``: dies between a data upload and its
commit) decide what to do with a request; passing it on unchanged is this one function.
"""

from __future__ import annotations

import http.client
from http.server import BaseHTTPRequestHandler

_HOP_BY_HOP = {"transfer-encoding", "connection", "content-length"}


def forward(handler: BaseHTTPRequestHandler, host: str, port: int | None) -> None:
    """Send ``handler``'s request to ``host:port`` and write the response back, with an exact length.

    ``Expect`` is dropped (the body was read already); a HEAD keeps the upstream's
    Content-Length with no body.
    """
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    upstream = http.client.HTTPConnection(host, port, timeout=60)
    try:
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "expect"}
        upstream.request(handler.command, handler.path, body=body, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
    finally:
        upstream.close()
    handler.send_response_only(response.status, response.reason)
    for name, value in response.getheaders():
        if name.lower() not in _HOP_BY_HOP:
            handler.send_header(name, value)
    head_length = response.getheader("Content-Length") if handler.command == "HEAD" else None
    handler.send_header("Content-Length", head_length or str(len(payload)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)

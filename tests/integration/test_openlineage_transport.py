"""OpenLineage transports against a real local HTTP receiver standing in for Marquez, and a file."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from featurelake.io.openlineage import emit_lineage
from featurelake.lineage.openlineage import run_event, s3_dataset
from featurelake.settings import Settings

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
API_KEY = "ol-test-token-9f2c"
FAST = (0.01, 0.01)


@dataclass
class Receiver:
    """A lineage collector: records each request and answers with the next scripted status."""

    url: str
    statuses: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            status = receiver.statuses.pop(0) if receiver.statuses else 201
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver(url="", statuses=[])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _events() -> tuple[dict[str, Any], dict[str, Any]]:
    bronze = s3_dataset("s3://lake/bronze/transactions", 7)
    features = s3_dataset("s3://lake/features/customer_txn/v1", 3, {"customer_id": "String"})
    start = run_event("START", "flow-run-1", "build_features.customer_txn", [bronze], now=NOW, namespace="fl")
    complete = run_event(
        "COMPLETE", "flow-run-1", "build_features.customer_txn", [bronze], [features], now=NOW, namespace="fl"
    )
    return start, complete


def test_start_and_complete_reach_the_collector(receiver: Receiver) -> None:
    settings = Settings(openlineage_url=receiver.url, openlineage_api_key=API_KEY)  # type: ignore[arg-type]
    start, complete = _events()

    assert emit_lineage(settings, start, backoff=FAST)
    assert emit_lineage(settings, complete, backoff=FAST)

    assert [r["path"] for r in receiver.requests] == ["/api/v1/lineage", "/api/v1/lineage"]
    assert [r["body"] for r in receiver.requests] == [start, complete]
    headers = receiver.requests[1]["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert receiver.requests[0]["body"]["run"]["runId"] == receiver.requests[1]["body"]["run"]["runId"]
    assert receiver.requests[1]["body"]["outputs"][0]["facets"]["version"]["datasetVersion"] == "3"


def test_no_api_key_sends_no_authorization_header(receiver: Receiver) -> None:
    assert emit_lineage(Settings(openlineage_url=receiver.url + "/"), _events()[0], backoff=FAST)
    assert "Authorization" not in receiver.requests[0]["headers"]
    assert receiver.requests[0]["path"] == "/api/v1/lineage"


def test_a_503_is_retried_until_the_collector_accepts(receiver: Receiver) -> None:
    receiver.statuses[:] = [503, 200]
    assert emit_lineage(Settings(openlineage_url=receiver.url), _events()[0], backoff=FAST)
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]


def test_a_collector_down_for_every_attempt_gives_false_and_a_warning(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses[:] = [503, 503, 503, 503]
    with caplog.at_level(logging.WARNING, logger="featurelake.io.openlineage"):
        assert not emit_lineage(Settings(openlineage_url=receiver.url), _events()[0], backoff=FAST)
    assert len(receiver.requests) == 3
    assert "HTTP 503" in caplog.text


def test_a_4xx_is_not_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.statuses[:] = [400]
    with caplog.at_level(logging.WARNING, logger="featurelake.io.openlineage"):
        assert not emit_lineage(Settings(openlineage_url=receiver.url), _events()[0], backoff=FAST)
    assert len(receiver.requests) == 1
    assert "HTTP 400" in caplog.text


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_closed_port_gives_false_and_a_warning_naming_the_url_not_the_key(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(openlineage_url=url, openlineage_api_key=API_KEY)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="featurelake.io.openlineage"):
        assert emit_lineage(settings, _events()[0], backoff=FAST) is False
    assert f"{url}/api/v1/lineage" in caplog.text
    assert "3 attempt" in caplog.text
    assert API_KEY not in caplog.text


def test_credentials_in_the_url_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://admin:hunter2@127.0.0.1:{_closed_port()}"
    with caplog.at_level(logging.WARNING, logger="featurelake.io.openlineage"):
        assert not emit_lineage(Settings(openlineage_url=url), _events()[0], backoff=FAST)
    assert "hunter2" not in caplog.text
    assert "127.0.0.1" in caplog.text


def test_the_file_transport_appends_one_parsable_line_per_event(tmp_path: Path) -> None:
    path = tmp_path / "lineage" / "nested" / "events.jsonl"
    settings = Settings(openlineage_file=path)
    start, complete = _events()

    assert emit_lineage(settings, start)
    assert emit_lineage(settings, complete)

    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [start, complete]


def test_file_and_http_together_both_receive_the_event(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    start = _events()[0]
    assert emit_lineage(Settings(openlineage_url=receiver.url, openlineage_file=path), start, backoff=FAST)
    assert receiver.requests[0]["body"] == start
    assert json.loads(path.read_text()) == start


def test_an_unwritable_file_gives_false_and_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="featurelake.io.openlineage"):
        assert not emit_lineage(Settings(openlineage_file=blocker / "events.jsonl"), _events()[0])
    assert "not-a-dir" in caplog.text


def test_an_unserialisable_event_gives_false_instead_of_raising(tmp_path: Path) -> None:
    broken = {**_events()[0], "eventTime": NOW}
    assert not emit_lineage(Settings(openlineage_file=tmp_path / "events.jsonl"), broken)


def test_nothing_configured_sends_nothing() -> None:
    assert emit_lineage(Settings(openlineage_url=None, openlineage_file=None), _events()[0]) is False


def test_a_malformed_api_key_is_never_quoted_in_the_warning(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    bad_key = "line-one\nX-Injected: leaked-secret"
    settings = Settings(openlineage_url=receiver.url, openlineage_api_key=bad_key)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="featurelake.io.openlineage"):
        assert not emit_lineage(settings, _events()[0], backoff=FAST)
    assert caplog.records
    assert "leaked-secret" not in caplog.text
    assert receiver.requests == []

"""The AWS S3-event forwarder (infra/forwarder/handler.py) against a real Prefect server.

The forwarder ships to Lambda on its own, so it is loaded by file path, exactly as Lambda would load it. Events
go through the real events API of the test-harness server and are read back from it; the only stand-in is a
tiny local HTTP server used where the real one cannot produce the response under test (503/429 for retries,
and recording the Authorization header).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prefect.events.filters import EventFilter, EventIDFilter, EventResourceFilter
from prefect.settings import PREFECT_API_URL

from featurelake.core.events import RAW_OBJECT_LANDED, RawObjectLanded, raw_object_event_id, raw_object_resource_id
from tests.integration.helpers import by_id, wait_for_events

HANDLER_PATH = Path(__file__).resolve().parents[2] / "infra" / "forwarder" / "handler.py"
AUTH_VARS = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_API_KEY_SECRET_ID", "FORWARDER_S3_KEY_ENCODING")


@pytest.fixture(scope="module")
def forwarder() -> Iterator[ModuleType]:
    """The handler module, imported from its file like the Lambda runtime does (infra is not a package)."""
    name = "featurelake_forwarder_handler"
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)


@pytest.fixture
def api_url(monkeypatch: pytest.MonkeyPatch, forwarder: ModuleType) -> str:
    """The harness server's API URL as the forwarder's PREFECT_API_URL, with no auth and fast retries."""
    url = str(PREFECT_API_URL.value())
    monkeypatch.setenv("PREFECT_API_URL", url)
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FORWARDER_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("FORWARDER_MAX_ATTEMPTS", "3")
    forwarder._SECRET_CACHE.clear()
    return url


def s3_event(
    bucket: str, key: str, etag: str, size: int = 5, detail_type: str = "Object Created", source: str = "aws.s3"
) -> dict[str, Any]:
    """A full EventBridge event as S3 sends it (shape from the AWS S3 user guide, "EventBridge event message")."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "111122223333",
        "time": "2026-11-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag,
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "111122223333",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject",
        },
    }


def sqs_batch(*bodies: Any) -> dict[str, Any]:
    """An SQS event source batch whose message bodies are the given EventBridge events (or raw strings)."""
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"handle-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:featurelake-raw-events",
                "awsRegion": "eu-west-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def unique_object(source: str = "transactions") -> tuple[str, str, str]:
    """A bucket, key and ETag no other test uses (the server is shared by the whole integration package)."""
    return "featurelake-raw", f"{source}/{uuid.uuid4().hex}.csv", uuid.uuid4().hex


def test_object_created_is_forwarded_as_the_watcher_event(forwarder: ModuleType, api_url: str) -> None:
    bucket, key, etag = unique_object()
    result = forwarder.handler(s3_event(bucket, key, etag, size=1234), None)

    expected_id = raw_object_event_id(bucket, key, etag)
    assert result["status"] == "forwarded"
    assert result["event_id"] == str(expected_id)
    stored = wait_for_events(by_id(expected_id))
    assert len(stored) == 1
    event = stored[0]
    assert event.id == expected_id
    assert event.event == RAW_OBJECT_LANDED
    assert dict(event.resource.root) == {
        "prefect.resource.id": raw_object_resource_id(bucket, key),
        "featurelake.source": "transactions",
        "featurelake.bucket": bucket,
        "featurelake.etag": etag,
    }
    assert event.related == []
    assert RawObjectLanded.model_validate(event.payload) == RawObjectLanded(
        bucket=bucket, key=key, etag=etag, size=1234, source="transactions"
    )
    assert set(event.payload) == set(RawObjectLanded.model_fields)
    # occurred is the forwarding time, not the S3 event time (2026-11-01), or triggers would see a late event
    assert abs(time.time() - event.occurred.timestamp()) < 120


def test_ids_equal_the_library_ids(forwarder: ModuleType) -> None:
    cases = [
        ("featurelake-raw", "transactions/2026-11-01.csv", "b1946ac92492d2347c6235b4d2611184"),
        ("featurelake-raw", "customers/a b+c.parquet", '"9b2cf535f27731c974343645a3985328-12"'),
        ("other-bucket", "x/ü/ñ.ndjson", "0"),
    ]
    for bucket, key, etag in cases:
        assert forwarder.raw_object_event_id(bucket, key, etag) == raw_object_event_id(bucket, key, etag)
        assert forwarder.raw_object_resource_id(bucket, key) == raw_object_resource_id(bucket, key)
    # quoted and unquoted ETags are the same object version
    assert forwarder.raw_object_event_id("b", "s/k", '"abc"') == raw_object_event_id("b", "s/k", "abc")


def test_the_same_delivery_twice_is_stored_once(forwarder: ModuleType, api_url: str) -> None:
    bucket, key, etag = unique_object()
    delivery = s3_event(bucket, key, etag)
    first = forwarder.handler(delivery, None)
    second = forwarder.handler(delivery, None)
    assert first["event_id"] == second["event_id"]

    # A later sentinel event: once it is stored, the duplicate delivered before it has been processed too.
    sentinel_bucket, sentinel_key, sentinel_etag = unique_object()
    sentinel = forwarder.handler(s3_event(sentinel_bucket, sentinel_key, sentinel_etag), None)
    assert wait_for_events(by_id(sentinel["event_id"]))

    stored = wait_for_events(EventFilter(resource=EventResourceFilter(id=[raw_object_resource_id(bucket, key)])))
    assert [str(e.id) for e in stored] == [first["event_id"]]


def test_url_encoded_key_is_decoded(forwarder: ModuleType, api_url: str) -> None:
    bucket, _, etag = unique_object()
    real_key = f"transactions/{uuid.uuid4().hex} report (final)+v2: ü.csv"
    encoded = urllib.parse.quote_plus(real_key, safe="/")  # how S3 encodes event keys: ' ' -> '+', '+' -> '%2B'
    assert "+" in encoded
    assert "%2B" in encoded

    result = forwarder.handler(s3_event(bucket, encoded, etag), None)

    assert result["event_id"] == str(raw_object_event_id(bucket, real_key, etag))
    (event,) = wait_for_events(by_id(result["event_id"]))
    assert event.payload["key"] == real_key
    assert event.resource.id == raw_object_resource_id(bucket, real_key)


def test_key_decoding_can_be_switched_off(forwarder: ModuleType, api_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDER_S3_KEY_ENCODING", "none")
    bucket, _, etag = unique_object()
    raw_key = f"transactions/{uuid.uuid4().hex}+a%20b.csv"
    result = forwarder.handler(s3_event(bucket, raw_key, etag), None)
    assert result["event_id"] == str(raw_object_event_id(bucket, raw_key, etag))


def test_http_error_names_status_url_and_object_but_not_the_key(
    forwarder: ModuleType, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = f"{api_url}/not-an-api"
    monkeypatch.setenv("PREFECT_API_URL", wrong)
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_do-not-leak-me")
    bucket, key, etag = unique_object()

    with pytest.raises(forwarder.ForwardError) as raised:
        forwarder.handler(s3_event(bucket, key, etag), None)

    message = str(raised.value)
    assert "HTTP 404" in message
    assert f"{wrong}/events" in message
    assert f"s3://{bucket}/{key}" in message
    assert "pnu_do-not-leak-me" not in message


def test_credentials_in_the_url_are_not_echoed(
    forwarder: ModuleType, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = urllib.parse.urlsplit(api_url)
    monkeypatch.setenv("PREFECT_API_URL", f"{parts.scheme}://admin:s3cret@{parts.netloc}{parts.path}/nope")
    bucket, key, etag = unique_object()
    with pytest.raises(forwarder.ForwardError) as raised:
        forwarder.handler(s3_event(bucket, key, etag), None)
    assert "404" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert "admin" not in str(raised.value)


def test_connection_errors_are_retried_then_raised(
    forwarder: ModuleType, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    bucket, key, etag = unique_object()
    with pytest.raises(forwarder.ForwardError, match=r"after 3 attempt\(s\)") as raised:
        forwarder.handler(s3_event(bucket, key, etag), None)
    assert f"s3://{bucket}/{key}" in str(raised.value)


def test_not_object_created_is_rejected(forwarder: ModuleType, api_url: str) -> None:
    bucket, key, etag = unique_object()
    with pytest.raises(ValueError, match="Object Created"):
        forwarder.handler(s3_event(bucket, key, etag, detail_type="Object Deleted"), None)
    with pytest.raises(ValueError, match=r"source='aws\.ec2'"):
        forwarder.handler(s3_event(bucket, key, etag, source="aws.ec2"), None)
    broken = s3_event(bucket, key, etag)
    del broken["detail"]["object"]["etag"]
    with pytest.raises(ValueError, match=r"detail\.object\.etag"):
        forwarder.handler(broken, None)
    classic = {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": key}}}]}
    with pytest.raises(ValueError, match="classic S3 notification"):
        forwarder.handler(classic, None)


def test_folder_markers_are_skipped(forwarder: ModuleType, api_url: str) -> None:
    bucket, _, etag = unique_object()
    result = forwarder.handler(s3_event(bucket, "transactions/2026/", etag, size=0), None)
    assert result == {"status": "skipped", "reason": "folder marker", "object": f"s3://{bucket}/transactions/2026/"}
    assert wait_for_events(by_id(raw_object_event_id(bucket, "transactions/2026/", etag)), timeout=1) == []


def test_sqs_batch_is_posted_and_bad_records_are_reported(forwarder: ModuleType, api_url: str) -> None:
    bucket, key_a, etag_a = unique_object("transactions")
    _, key_b, etag_b = unique_object("customers")
    event_a = s3_event(bucket, key_a, etag_a)
    batch = sqs_batch(
        event_a,
        s3_event(bucket, key_b, etag_b),
        event_a,  # a redelivery inside the same batch
        s3_event(bucket, "customers/", uuid.uuid4().hex, size=0),
        s3_event(bucket, key_a, etag_a, detail_type="Object Deleted"),
        "not json",
    )

    result = forwarder.handler(batch, None)

    ids = [str(raw_object_event_id(bucket, key_a, etag_a)), str(raw_object_event_id(bucket, key_b, etag_b))]
    assert result["status"] == "forwarded"
    assert result["event_ids"] == ids
    assert result["skipped"] == [f"s3://{bucket}/customers/"]
    assert result["batchItemFailures"] == [{"itemIdentifier": "msg-4"}, {"itemIdentifier": "msg-5"}]
    stored = wait_for_events(EventFilter(id=EventIDFilter(id=[uuid.UUID(i) for i in ids])), count=2)
    assert sorted(str(e.id) for e in stored) == sorted(ids)
    assert {e.payload["source"] for e in stored} == {"transactions", "customers"}


# --- a recording stand-in server: for responses the real one cannot be made to give ----------------------------


class _Recorder(ThreadingHTTPServer):
    statuses: list[int]
    requests: list[tuple[str, dict[str, str], Any]]


class _RecordingHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.server.requests.append((self.path, dict(self.headers), body))
        status = self.server.statuses.pop(0) if self.server.statuses else 204
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, api_url: str) -> Iterator[_Recorder]:
    server = _Recorder(("127.0.0.1", 0), _RecordingHandler)
    server.statuses, server.requests = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{server.server_address[1]}/api/")
    yield server
    server.shutdown()
    server.server_close()


def test_429_and_5xx_are_retried(forwarder: ModuleType, recorder: _Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDER_MAX_ATTEMPTS", "4")
    recorder.statuses = [503, 429, 502]
    bucket, key, etag = unique_object()
    result = forwarder.handler(s3_event(bucket, key, etag), None)
    assert result["status"] == "forwarded"
    assert len(recorder.requests) == 4
    assert {path for path, _, _ in recorder.requests} == {"/api/events"}
    assert all(body == recorder.requests[0][2] for _, _, body in recorder.requests)


def test_other_4xx_is_not_retried(forwarder: ModuleType, recorder: _Recorder) -> None:
    recorder.statuses = [401]
    bucket, key, etag = unique_object()
    with pytest.raises(forwarder.ForwardError, match="HTTP 401") as raised:
        forwarder.handler(s3_event(bucket, key, etag), None)
    assert len(recorder.requests) == 1
    assert f"s3://{bucket}/{key}" in str(raised.value)


def test_auth_headers(forwarder: ModuleType, recorder: _Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket, key, etag = unique_object()
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:pass")
    forwarder.handler(s3_event(bucket, key, etag), None)
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_cloud")  # an API key wins over the auth string, as in Prefect
    forwarder.handler(s3_event(bucket, key, etag), None)
    monkeypatch.delenv("PREFECT_API_KEY")
    monkeypatch.delenv("PREFECT_API_AUTH_STRING")
    port = recorder.server_address[1]
    monkeypatch.setenv("PREFECT_API_URL", f"http://admin:p%40ss@127.0.0.1:{port}/api")  # credentials in the URL
    forwarder.handler(s3_event(bucket, key, etag), None)
    assert [headers.get("Authorization") for _, headers, _ in recorder.requests] == [
        "Basic YWRtaW46cGFzcw==",
        "Bearer pnu_cloud",
        "Basic YWRtaW46cEBzcw==",  # admin:p@ss
    ]


def test_api_key_from_secrets_manager_is_read_once(
    forwarder: ModuleType, recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    for var, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_env-key-loses")
    bucket, key, etag = unique_object()
    with mock_aws():
        import boto3

        secrets = boto3.client("secretsmanager")
        secret_id = "featurelake/prefect-api-key"
        secrets.create_secret(Name=secret_id, SecretString="pnu_from-secret\n")
        monkeypatch.setenv("PREFECT_API_KEY_SECRET_ID", secret_id)

        forwarder.handler(s3_event(bucket, key, etag), None)
        secrets.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
        forwarder.handler(s3_event(bucket, key, etag), None)  # warm container: no second read

    assert [headers.get("Authorization") for _, headers, _ in recorder.requests] == ["Bearer pnu_from-secret"] * 2
    assert "pnu_from-secret" not in repr(forwarder.load_config())


def test_sqs_batch_is_one_request(forwarder: ModuleType, recorder: _Recorder) -> None:
    bucket, key_a, etag_a = unique_object()
    _, key_b, etag_b = unique_object()
    forwarder.handler(sqs_batch(s3_event(bucket, key_a, etag_a), s3_event(bucket, key_b, etag_b)), None)
    assert len(recorder.requests) == 1
    assert [e["payload"]["key"] for e in recorder.requests[0][2]] == [key_a, key_b]

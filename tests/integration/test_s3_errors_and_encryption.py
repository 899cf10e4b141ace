"""S3 failure modes and encryption at rest, against the real local S3 endpoint.

Permanent errors fail fast naming bucket and key; transient ones (503 SlowDown from a flaky
endpoint) are retried with backoff until the ingest succeeds; every lake object carries the
server-side encryption the settings ask for, sent by our writers, not by a bucket default.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import urlsplit

import boto3
import pytest

from featurelake.core.naming import bronze_path
from featurelake.io.aws.raw import RawObject, fetch_raw_bytes, list_raw_objects
from featurelake.io.aws.s3 import ObjectChangedError, PermanentS3Error, s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings, get_settings
from flows.ingest import ingest
from tests.integration.helpers import DATA, demo_objects, upload


def test_a_missing_raw_bucket_fails_at_once_naming_it(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_RAW_BUCKET", "no-such-raw-bucket")
    get_settings.cache_clear()
    started = time.monotonic()

    with pytest.raises(
        PermanentS3Error, match=r"listing s3://no-such-raw-bucket/transactions/ failed with NoSuchBucket"
    ):
        ingest(["transactions"])

    assert time.monotonic() - started < 30  # not retried: waiting cannot create a bucket


def test_an_object_overwritten_after_listing_is_left_for_the_next_run(settings: Settings) -> None:
    upload(settings, {"transactions/a.csv": b"txn_id\n1\n"})
    (listed,) = list_raw_objects(settings, "transactions/")
    upload(settings, {"transactions/a.csv": b"txn_id\n2\n"})

    with pytest.raises(ObjectChangedError, match=r"s3://.*/transactions/a.csv: the object changed since it was listed"):
        fetch_raw_bytes(settings, RawObject(listed.key, listed.etag, listed.size))


class _FlakyS3(BaseHTTPRequestHandler):
    """Forwards to the real endpoint, but answers the first GET of every object with 503 SlowDown."""

    upstream: ClassVar[str] = ""
    failed: ClassVar[set[str]] = set()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            first = self.path not in self.failed and "list-type" not in self.path and "?" not in self.path
            if first:
                self.failed.add(self.path)
        if first:
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()

    def _forward(self) -> None:
        target = urlsplit(self.upstream)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        connection.request(self.command, self.path, body=body, headers=dict(self.headers))
        response = connection.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky_endpoint(s3_endpoint: str) -> Iterator[tuple[str, set[str]]]:
    handler = type("Flaky", (_FlakyS3,), {"upstream": s3_endpoint, "failed": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.failed
    server.shutdown()


def test_transient_errors_are_retried_until_the_ingest_succeeds(
    settings: Settings, flaky_endpoint: tuple[str, set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = {k: v for k, v in demo_objects().items() if k.startswith("transactions/")}
    upload(settings, objects)
    url, failed = flaky_endpoint
    monkeypatch.setenv("FEATURELAKE_S3_ENDPOINT_URL", url)
    get_settings.cache_clear()

    (result,) = ingest(["transactions"])

    raw_gets = {p for p in failed if settings.raw_bucket in p}
    assert len(raw_gets) == len(objects)  # every raw object was refused once, then read on retry
    assert result["rows_accepted"] == DATA.transactions.height
    assert result["reconciled"] is True


def _plain_bucket(settings: Settings) -> str:
    """A lake bucket without default encryption: whatever encryption objects get, the writer sent."""
    name = f"plain-lake-{uuid.uuid4().hex[:8]}"
    s3_client(settings).create_bucket(Bucket=name)
    return name


def _lake_encryption(settings: Settings) -> set[tuple[str | None, str | None]]:
    client, bucket = s3_client(settings), settings.lake_bucket
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any("/_delta_log/" in k for k in keys)
    assert any(k.endswith(".parquet") for k in keys)
    heads = [client.head_object(Bucket=bucket, Key=k) for k in keys]
    return {(h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")) for h in heads}


def test_lake_writes_send_aes256_without_a_bucket_default(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_LAKE_URI", f"s3://{_plain_bucket(settings)}")
    get_settings.cache_clear()
    upload(settings, demo_objects())

    ingest(["transactions"])

    assert DeltaStore(get_settings()).version(bronze_path("transactions")) is not None
    assert _lake_encryption(get_settings()) == {("AES256", None)}


def test_lake_writes_send_kms_with_the_configured_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    kms = boto3.client("kms", endpoint_url=settings.s3_endpoint_url, region_name=settings.aws_region)
    key_id = kms.create_key(Description="featurelake test lake key")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("FEATURELAKE_LAKE_URI", f"s3://{_plain_bucket(settings)}")
    monkeypatch.setenv("FEATURELAKE_SSE", "aws:kms")
    monkeypatch.setenv("FEATURELAKE_KMS_KEY_ID", key_id)
    get_settings.cache_clear()
    upload(settings, demo_objects())

    ingest(["transactions"])

    encryption = _lake_encryption(get_settings())
    assert {algorithm for algorithm, _ in encryption} == {"aws:kms"}
    assert all(kms_key is not None and kms_key.endswith(key_id) for _, kms_key in encryption)

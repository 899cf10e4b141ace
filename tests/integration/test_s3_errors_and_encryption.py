"""S3 failure modes and encryption at rest, against the real local S3 endpoint.

Permanent errors fail fast naming bucket and key; transient ones (503 SlowDown from a flaky
endpoint) are retried with backoff until the ingest succeeds; every lake object carries the
server-side encryption the settings ask for, sent by our writers, not by a bucket default.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from featurelake.core.naming import bronze_path
from featurelake.io.aws.raw import RawObject, fetch_raw_bytes, list_raw_objects
from featurelake.io.aws.s3 import ObjectChangedError, PermanentS3Error, s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.local.processes import free_port
from featurelake.settings import Settings, get_settings
from flows.ingest import ingest
from tests.integration.helpers import DATA, demo_objects, upload

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture
def flaky_endpoint(s3_endpoint: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A proxy to the S3 endpoint, in its own process, that refuses the first GET of every object.

    The paths it refused are appended to the returned file. It is a process because deltalake's
    ``history()`` holds the GIL while it waits for S3: a proxy thread in this interpreter could
    not answer it (see ``tests/integration/flaky_s3.py``).
    """
    port, failed = free_port(), tmp_path / "refused.txt"
    failed.touch()
    command = [sys.executable, "-m", "tests.integration.flaky_s3", "--upstream", s3_endpoint, "--port", str(port)]
    proxy = subprocess.Popen([*command, "--failed-file", str(failed)], cwd=REPO)
    try:
        _wait_for_port(port, proxy)
        yield f"http://127.0.0.1:{port}", failed
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


def _wait_for_port(port: int, proxy: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until the proxy accepts connections (it has started listening), or fail naming what happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proxy.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"the flaky S3 proxy did not listen on port {port} (exit code {proxy.poll()})")


def test_transient_errors_are_retried_until_the_ingest_succeeds(
    settings: Settings, flaky_endpoint: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = {k: v for k, v in demo_objects().items() if k.startswith("transactions/")}
    upload(settings, objects)
    url, failed = flaky_endpoint
    monkeypatch.setenv("FEATURELAKE_S3_ENDPOINT_URL", url)
    get_settings.cache_clear()

    (result,) = ingest(["transactions"])

    raw_gets = {p for p in failed.read_text().splitlines() if settings.raw_bucket in p}
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

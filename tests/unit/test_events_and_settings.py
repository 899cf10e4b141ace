"""Deterministic event ids and delta-rs storage options derived from settings."""

from __future__ import annotations

import uuid
from typing import Literal

import pytest

from featurelake.core.events import FEATURE_SET_PUBLISHED, event_id
from featurelake.settings import Settings

RESOURCE = "featurelake.feature-set.customer_txn.v1"


def test_event_id_is_deterministic() -> None:
    first = event_id(FEATURE_SET_PUBLISHED, RESOURCE, "7")
    assert first == event_id(FEATURE_SET_PUBLISHED, RESOURCE, "7")
    assert isinstance(first, uuid.UUID)
    assert first.version == 5


def test_event_id_is_stable_across_releases() -> None:
    # Pinned value: changing the namespace or the encoding would break re-emit dedup.
    namespace = uuid.UUID("6f1c6a52-2c1f-4b8e-9a57-6d2a7f0c1e11")
    expected = uuid.uuid5(namespace, f"{FEATURE_SET_PUBLISHED}|{RESOURCE}|7")
    assert event_id(FEATURE_SET_PUBLISHED, RESOURCE, "7") == expected


@pytest.mark.parametrize(
    "other",
    [
        ("featurelake.model.trained", RESOURCE, "7"),
        (FEATURE_SET_PUBLISHED, "featurelake.feature-set.customer_txn.v2", "7"),
        (FEATURE_SET_PUBLISHED, RESOURCE, "8"),
        (FEATURE_SET_PUBLISHED, RESOURCE, ""),
    ],
)
def test_event_id_differs_when_any_part_differs(other: tuple[str, str, str]) -> None:
    assert event_id(*other) != event_id(FEATURE_SET_PUBLISHED, RESOURCE, "7")


def test_event_ids_of_many_versions_are_distinct() -> None:
    ids = {event_id(FEATURE_SET_PUBLISHED, RESOURCE, str(v)) for v in range(1000)}
    assert len(ids) == 1000


def _settings(
    endpoint: str | None = None, kms_key_id: str | None = None, sse: Literal["AES256", "aws:kms"] = "AES256"
) -> Settings:
    return Settings(aws_region="eu-west-1", sse=sse, kms_key_id=kms_key_id, s3_endpoint_url=endpoint)


def test_storage_options_for_plain_aws() -> None:
    assert _settings().delta_storage_options() == {
        "AWS_REGION": "eu-west-1",
        "AWS_SERVER_SIDE_ENCRYPTION": "AES256",
    }


def test_http_endpoint_allows_http() -> None:
    options = _settings(endpoint="http://127.0.0.1:5000").delta_storage_options()
    assert options == {
        "AWS_REGION": "eu-west-1",
        "AWS_SERVER_SIDE_ENCRYPTION": "AES256",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ALLOW_HTTP": "true",
    }


def test_https_endpoint_does_not_allow_http() -> None:
    endpoint = "https://s3.eu-west-1.amazonaws.com"
    options = _settings(endpoint=endpoint).delta_storage_options()
    assert options["AWS_ENDPOINT_URL"] == endpoint
    assert "AWS_ALLOW_HTTP" not in options


def test_kms_key_only_when_set() -> None:
    key = "arn:aws:kms:eu-west-1:111122223333:key/abcd"
    with_key = _settings(sse="aws:kms", kms_key_id=key).delta_storage_options()
    assert with_key == {
        "AWS_REGION": "eu-west-1",
        "AWS_SERVER_SIDE_ENCRYPTION": "aws:kms",
        "AWS_SSE_KMS_KEY_ID": key,
    }
    without_key = _settings(sse="aws:kms").delta_storage_options()
    assert "AWS_SSE_KMS_KEY_ID" not in without_key
    assert without_key["AWS_SERVER_SIDE_ENCRYPTION"] == "aws:kms"


def test_environment_is_read_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_S3_ENDPOINT_URL", "http://localhost:9000")
    monkeypatch.setenv("FEATURELAKE_KMS_KEY_ID", "key-1")
    monkeypatch.setenv("FEATURELAKE_SSE", "aws:kms")
    options = Settings().delta_storage_options()
    assert options["AWS_ENDPOINT_URL"] == "http://localhost:9000"
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["AWS_SSE_KMS_KEY_ID"] == "key-1"
    assert options["AWS_SERVER_SIDE_ENCRYPTION"] == "aws:kms"

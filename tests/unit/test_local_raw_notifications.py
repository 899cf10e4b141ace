"""Reading S3 ObjectCreated notifications (the local event source's input) without a server."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from featurelake.io.aws.queue import CreatedObject, created_objects


def _record(event_name: str, key: str, etag: str = "abc", size: int = 4) -> dict[str, object]:
    # The shape S3 (and moto) send: https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {"bucket": {"name": "raw"}, "object": {"key": quote_plus(key), "size": size, "eTag": etag}},
    }


def test_created_objects_decode_the_key_and_keep_size_and_etag() -> None:
    body = json.dumps({"Records": [_record("ObjectCreated:Put", "transactions/day 1/a+b.csv", '"e1"', 7)]})

    assert created_objects(body) == [CreatedObject("raw", "transactions/day 1/a+b.csv", "e1", 7)]


def test_every_kind_of_creation_counts_and_nothing_else() -> None:
    records = [
        _record("ObjectCreated:CompleteMultipartUpload", "transactions/big.parquet"),
        _record("ObjectCreated:Copy", "transactions/copy.csv"),
        _record("ObjectRemoved:Delete", "transactions/gone.csv"),
    ]

    keys = [o.key for o in created_objects(json.dumps({"Records": records}))]

    assert keys == ["transactions/big.parquet", "transactions/copy.csv"]


def test_the_test_event_s3_sends_on_configuration_announces_nothing() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "raw"})

    assert created_objects(body) == []

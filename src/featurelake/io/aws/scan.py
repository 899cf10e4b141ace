"""Every stored byte an erasure proof must search on AWS's side: object versions of a bucket, items of online tables.

Listings are paginated and consumed page by page, and objects are fetched one at a time, so a
large bucket streams through: at most one listing page and one object are in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from featurelake.io.aws.s3 import aws_client, s3_errors
from featurelake.settings import Settings


def object_versions(settings: Settings, bucket: str, prefix: str = "") -> Iterator[tuple[str, str | None, bytes]]:
    """(key, version id or None, bytes) of every version of every object under ``prefix``.

    Every version, not only the current one: an overwritten or deleted object of a versioned
    bucket still holds its old bytes. Delete markers hold nothing and are skipped. A bucket
    without versioning lists each object once (version id ``null``, given as None).
    """
    client = aws_client(settings, "s3")
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    with s3_errors("listing object versions in", bucket, prefix):
        for page in pages:
            for item in page.get("Versions", []):
                key, version = str(item["Key"]), item.get("VersionId")
                version = None if version in (None, "null") else str(version)
                extra: dict[str, Any] = {"VersionId": version} if version else {}
                with s3_errors("reading", bucket, key):
                    body = client.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
                yield key, version, body


def online_items(settings: Settings, prefix: str) -> Iterator[tuple[str, str]]:
    """(``table key``, item as JSON text) of every item of every DynamoDB table named ``<prefix>-*``.

    The key part names the item by its key attributes, so a hit says which item to delete.
    """
    client = aws_client(settings, "dynamodb")
    tables = [
        str(name)
        for page in client.get_paginator("list_tables").paginate()
        for name in page.get("TableNames", [])
        if str(name).startswith(f"{prefix}-")
    ]
    for table in tables:
        key_names = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page.get("Items", []):
                key = {name: item.get(name) for name in key_names}
                yield (
                    f"{table} key {json.dumps(key, sort_keys=True, default=str)}",
                    json.dumps(item, sort_keys=True, default=str),
                )

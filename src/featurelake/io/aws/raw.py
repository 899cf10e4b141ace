"""Raw objects in S3: listing (paginated), reading pinned to an ETag, and (for producers) putting.

The pipeline only ever reads the raw bucket; producers own it. Parsing the bytes is pure and
lives in :mod:`featurelake.core.raw_formats`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from featurelake.io.aws.s3 import s3_client, s3_errors
from featurelake.settings import Settings


@dataclass(frozen=True)
class RawObject:
    """One object in the raw bucket, identified by key and ETag."""

    key: str
    etag: str
    size: int
    #: When the producer finished writing it (S3 reports whole seconds); orders a backlog oldest first.
    last_modified: dt.datetime | None = None


def list_raw_objects(settings: Settings, prefix: str) -> list[RawObject]:
    """Every object under a prefix, across all listing pages, sorted by key."""
    paginator = s3_client(settings).get_paginator("list_objects_v2")
    found: list[RawObject] = []
    with s3_errors("listing", settings.raw_bucket, prefix):
        for page in paginator.paginate(Bucket=settings.raw_bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append(RawObject(item["Key"], item["ETag"].strip('"'), item["Size"], item["LastModified"]))
    return sorted(found, key=lambda o: o.key)


def fetch_raw_bytes(settings: Settings, obj: RawObject) -> bytes:
    """Download one raw object, pinned to the ETag that was listed.

    Pinning with IfMatch means an object overwritten between listing and reading fails loudly
    instead of being recorded under the wrong ETag.

    Raises:
        ObjectChangedError: the object was overwritten or deleted since it was listed.
        PermanentS3Error: the bucket is missing or reading it is denied, naming bucket and key.
    """
    with s3_errors("reading", settings.raw_bucket, obj.key):
        response = s3_client(settings).get_object(Bucket=settings.raw_bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
        return response["Body"].read()


def put_raw_objects(settings: Settings, objects: dict[str, bytes]) -> list[str]:
    """Put objects into the raw bucket as a producer would, asking for the configured encryption.

    The bucket's default would encrypt them anyway, but the buckets of infra/cloudformation deny
    any PUT that does not ask for SSE-KMS explicitly, so the header is always sent.
    """
    client = s3_client(settings)
    for key, body in objects.items():
        if settings.sse == "aws:kms" and settings.kms_key_id:
            client.put_object(
                Bucket=settings.raw_bucket,
                Key=key,
                Body=body,
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=settings.kms_key_id,
            )
        else:
            client.put_object(Bucket=settings.raw_bucket, Key=key, Body=body, ServerSideEncryption=settings.sse)
    return list(objects)

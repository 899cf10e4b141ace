"""The one place that builds S3 clients, so endpoint and retry policy are set once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from featurelake.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ServerSideEncryptionByDefaultTypeDef


def s3_client(settings: Settings) -> S3Client:
    """An S3 client with adaptive retries, so transient errors back off instead of failing."""
    config = Config(retries={"max_attempts": 8, "mode": "adaptive"})
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.aws_region,
        config=config,
    )


def ensure_buckets(settings: Settings) -> None:
    """The raw and the lake bucket, created with default encryption where missing."""
    for bucket in (settings.raw_bucket, settings.lake_bucket):
        ensure_bucket(settings, bucket)


def ensure_bucket(settings: Settings, bucket: str) -> None:
    """Create a bucket with default encryption if it does not exist (local stack, tests)."""
    client = s3_client(settings)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    default: ServerSideEncryptionByDefaultTypeDef = {"SSEAlgorithm": settings.sse}
    if settings.kms_key_id:
        default["KMSMasterKeyID"] = settings.kms_key_id
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
    )

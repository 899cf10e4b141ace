"""The one place that builds S3 clients, so endpoint and retry policy are set once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from featurelake.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ServerSideEncryptionByDefaultTypeDef


#: Error codes no retry can fix: the bucket is missing or this identity may not use it.
PERMANENT_ERROR_CODES = frozenset(
    {
        "NoSuchBucket",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidBucketName",
        "AccountProblem",
        "KMS.AccessDeniedException",
        "KMS.DisabledException",
        "403",
    }
)
#: The object is not the one that was listed any more (overwritten or deleted since).
CHANGED_ERROR_CODES = frozenset({"PreconditionFailed", "412", "NoSuchKey", "404"})


class PermanentS3Error(RuntimeError):
    """An S3 error that retrying cannot fix; the message names the operation, bucket and key."""


class ObjectChangedError(RuntimeError):
    """The object was overwritten or deleted between listing and reading: look again next run."""


@contextmanager
def s3_errors(operation: str, bucket: str, key: str = "") -> Iterator[None]:
    """Turn the S3 errors a caller must act on into ours, named by bucket and key.

    Transient errors (throttling, 5xx) never get here: the client retries them with backoff.
    """
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        where = f"s3://{bucket}/{key}"
        if code in PERMANENT_ERROR_CODES:
            raise PermanentS3Error(f"{operation} {where} failed with {code}: {_hint(code)}") from error
        if key and code in CHANGED_ERROR_CODES:
            raise ObjectChangedError(f"{operation} {where}: the object changed since it was listed ({code})") from error
        raise


def _hint(code: str) -> str:
    if code == "NoSuchBucket":
        return "the bucket does not exist (check FEATURELAKE_RAW_BUCKET / FEATURELAKE_LAKE_URI and the region)"
    return "this identity may not do that (check the role's policy, the bucket policy and the KMS key policy)"


def s3_client(settings: Settings) -> S3Client:
    """An S3 client with adaptive retries, so transient errors back off instead of failing."""
    client: S3Client = aws_client(settings, "s3")
    return client


def aws_client(
    settings: Settings, service: Literal["s3", "sqs", "dynamodb", "sts"], credentials: Mapping[str, str] | None = None
) -> Any:
    """A client of ``service`` on the configured endpoint and region, with adaptive retries.

    The local stack's moto serves S3, SQS, DynamoDB and STS on one endpoint, so every service takes
    the S3 one. ``credentials`` (``aws_access_key_id``, ``aws_secret_access_key``,
    ``aws_session_token``) replace the standard chain, e.g. for an assumed role.
    """
    config = Config(retries={"max_attempts": 8, "mode": "adaptive"})
    given = credentials or {}
    make: Callable[..., Any] = boto3.client  # its per-service overloads cannot take a union of names
    return make(
        service,
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.aws_region,
        config=config,
        aws_access_key_id=given.get("aws_access_key_id"),
        aws_secret_access_key=given.get("aws_secret_access_key"),
        aws_session_token=given.get("aws_session_token"),
    )


def ensure_buckets(settings: Settings) -> None:
    """The raw bucket, and the lake's when the lake is on S3, created with default encryption where missing.

    A lake on a local path (``FEATURELAKE_LAKE_URI=/some/dir``) has no bucket to create.
    """
    ensure_bucket(settings, settings.raw_bucket)
    if settings.lake_uri.startswith("s3://"):
        ensure_bucket(settings, settings.lake_bucket)


def ensure_bucket(settings: Settings, bucket: str) -> None:
    """Create a bucket with default encryption if it does not exist (local stack, tests).

    The raw bucket is created versioned, as in infra/cloudformation: an overwritten raw object
    keeps its old versions, so an erasure must find and remove every version, and locally it
    can only be tested if versions exist. An existing bucket is left as it is: its owner's
    encryption and versioning settings are not ours to reset.
    """
    client = s3_client(settings)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return
    client.create_bucket(Bucket=bucket)
    default: ServerSideEncryptionByDefaultTypeDef = {"SSEAlgorithm": settings.sse}
    if settings.kms_key_id:
        default["KMSMasterKeyID"] = settings.kms_key_id
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
    )
    if bucket == settings.raw_bucket:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

"""Rewriting raw objects, as the break-glass principal only: every version of a key, read and replaced.

The raw bucket is immutable for the pipeline (its policy denies deletes to everyone but one
audited role, infra/cloudformation/featurelake.yaml) and versioned, so an overwrite alone would
leave the subject in the previous version. An erasure therefore assumes the break-glass role for
its raw step only, puts the rewritten object and deletes every older version of the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from featurelake.io.aws.s3 import aws_client, s3_errors
from featurelake.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    #: The client type stages annotate with, so that they never import boto3's stubs.
    RawClient: TypeAlias = S3Client
else:
    RawClient = Any

#: The session name CloudTrail shows for every call the erasure makes as the break-glass role.
SESSION_NAME = "featurelake-erasure"
#: A version id S3 gives objects written while versioning was never enabled.
NULL_VERSION = "null"


class BreakGlassError(RuntimeError):
    """The break-glass principal is not configured, or assuming it failed."""


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version of a key (a delete marker has no ETag: ``etag`` is None)."""

    version_id: str
    etag: str | None
    is_latest: bool

    @property
    def is_delete_marker(self) -> bool:
        """A marker hides the key in listings but holds no content."""
        return self.etag is None


def break_glass_client(settings: Settings) -> S3Client:
    """An S3 client acting as ``settings.break_glass_role_arn`` (STS AssumeRole on the configured endpoint).

    Raises:
        BreakGlassError: the setting is unset, or STS refused to let this identity assume the role.
    """
    role = settings.break_glass_role_arn
    if not role:
        raise BreakGlassError(
            "rewriting raw objects needs the break-glass principal: set FEATURELAKE_BREAK_GLASS_ROLE_ARN "
            "(settings.break_glass_role_arn) to the role the raw bucket's policy allows to delete object versions"
        )
    try:
        answer = aws_client(settings, "sts").assume_role(RoleArn=role, RoleSessionName=SESSION_NAME)
    except Exception as error:  # botocore's ClientError and friends: name the role, not the credentials
        raise BreakGlassError(
            f"cannot assume the break-glass role {role} ({type(error).__name__}); check that this identity "
            "may call sts:AssumeRole on it (FEATURELAKE_BREAK_GLASS_ROLE_ARN)"
        ) from error
    granted = answer["Credentials"]
    credentials = {
        "aws_access_key_id": granted["AccessKeyId"],
        "aws_secret_access_key": granted["SecretAccessKey"],
        "aws_session_token": granted["SessionToken"],
    }
    client: S3Client = aws_client(settings, "s3", credentials)
    return client


def object_versions(client: S3Client, bucket: str, key: str) -> list[ObjectVersion]:
    """Every version of exactly ``key``, newest first (S3's order), then its delete markers.

    S3's own order is kept rather than sorting by LastModified, which has one-second resolution:
    two versions written in one second would tie.
    """
    versions: list[ObjectVersion] = []
    markers: list[ObjectVersion] = []
    with s3_errors("listing the versions of", bucket, key):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            versions += [_version(v, str(v["ETag"]).strip('"')) for v in page.get("Versions", []) if v["Key"] == key]
            markers += [_version(m, None) for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    return versions + markers


def _version(item: Any, etag: str | None) -> ObjectVersion:
    return ObjectVersion(str(item.get("VersionId") or NULL_VERSION), etag, bool(item.get("IsLatest")))


def read_version(client: S3Client, bucket: str, key: str, version_id: str) -> bytes:
    """The bytes of one version of ``key``."""
    with s3_errors("reading", bucket, key):
        response = client.get_object(Bucket=bucket, Key=key, VersionId=version_id)
        return response["Body"].read()


def replace_object(client: S3Client, bucket: str, key: str, data: bytes, settings: Settings) -> ObjectVersion:
    """Put ``data`` as ``key``'s new version, then delete every older version and delete marker.

    Only what is older than the new version goes: a version a producer wrote after the put, and a
    delete marker that is the latest (a producer deleted the key meanwhile), are theirs and stay;
    a re-run of the erasure checks them.
    Encryption is asked for explicitly, as the bucket policy requires (see
    :func:`featurelake.io.aws.raw.put_raw_objects`).
    """
    with s3_errors("rewriting", bucket, key):
        answer = client.put_object(Bucket=bucket, Key=key, Body=data, **_sse(settings))
    new = ObjectVersion(str(answer.get("VersionId") or NULL_VERSION), str(answer["ETag"]).strip('"'), True)
    listed = object_versions(client, bucket, key)
    ids = [v.version_id for v in listed if not v.is_delete_marker]
    older = ids[ids.index(new.version_id) + 1 :] if new.version_id in ids else []
    older += [v.version_id for v in listed if v.is_delete_marker and not v.is_latest]
    delete_versions(client, bucket, key, older)
    return new


def delete_versions(client: S3Client, bucket: str, key: str, version_ids: list[str]) -> None:
    """Delete these versions of ``key`` for good (a versioned delete leaves no marker)."""
    for version_id in version_ids:
        with s3_errors("deleting a version of", bucket, key):
            client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)


def _sse(settings: Settings) -> dict[str, Any]:
    if settings.sse == "aws:kms" and settings.kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": settings.kms_key_id}
    return {"ServerSideEncryption": settings.sse}

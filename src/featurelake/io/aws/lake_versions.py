"""Noncurrent object versions in a versioned lake bucket: what a purge or a log rewrite leaves behind.

On AWS the lake bucket is versioned (a deleted or overwritten object stays as a noncurrent
version until the lifecycle rule expires it), so a file an erasure purged, and a log entry it
rewrote, would still be readable as an older version. The bucket policy lets only the
break-glass principal delete versions; the erasure does it with that principal's client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurelake.io.aws.s3 import s3_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def delete_noncurrent(client: S3Client, bucket: str, prefix: str, keys: frozenset[str] | None = None) -> int:
    """Delete every noncurrent version and delete marker under ``prefix`` (only of ``keys`` when given).

    The current version of a key stays; a key whose current version is a delete marker (a purged
    file) loses every version. Returns how many versions and markers were deleted. A bucket
    without versioning has none: nothing happens.
    """
    doomed: list[tuple[str, str]] = []
    with s3_errors("listing the versions under", bucket, prefix):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                key, version = str(item["Key"]), item.get("VersionId")
                if version in (None, "null") or (item.get("IsLatest") and "ETag" in item):
                    continue  # unversioned, or the live content
                if keys is None or key in keys:
                    doomed.append((key, str(version)))
    for start in range(0, len(doomed), 1000):
        batch = [{"Key": key, "VersionId": version} for key, version in doomed[start : start + 1000]]
        with s3_errors("deleting noncurrent versions under", bucket, prefix):
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
    return len(doomed)

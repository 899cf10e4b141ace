"""Incomplete multipart uploads: listing them and aborting the stale ones.

A producer or a Delta writer killed during a multipart upload leaves its parts in the bucket,
billed and invisible to object listings, until someone aborts the upload. On AWS the buckets'
lifecycle rule (``AbortIncompleteMultipartUpload`` in infra/cloudformation) does it; the local
S3 endpoint runs no lifecycle rules, so maintenance does it there (and anywhere it may).

An upload's age is counted from its last activity (its newest part, else its start), so an
upload still sending parts is never taken for an abandoned one. It is also the only age the
local endpoint reports truthfully: moto gives every upload the start time 2010-11-10.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from featurelake.io.aws.s3 import s3_client, s3_errors
from featurelake.settings import Settings


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    bucket: str
    key: str
    upload_id: str
    initiated: dt.datetime
    #: When its newest part was written (None: no part yet).
    last_part: dt.datetime | None = None

    @property
    def idle_since(self) -> dt.datetime:
        """Its last activity: the newest part, else the start."""
        return max(self.initiated, self.last_part) if self.last_part is not None else self.initiated

    def describe(self, now: dt.datetime) -> str:
        """``s3://bucket/key (last written 2026-11-01 10:00 UTC, 26.5 h ago)``."""
        hours = (now - self.idle_since).total_seconds() / 3600
        written = self.idle_since.astimezone(dt.UTC)
        return f"s3://{self.bucket}/{self.key} (last written {written:%Y-%m-%d %H:%M} UTC, {hours:.1f} h ago)"


def incomplete_uploads(settings: Settings, bucket: str, prefix: str = "") -> list[IncompleteUpload]:
    """Every incomplete multipart upload under a prefix of a bucket, oldest first, across listing pages.

    Raises:
        PermanentS3Error: the bucket is missing or listing its uploads is denied, naming the bucket.
    """
    client = s3_client(settings)
    found: list[IncompleteUpload] = []
    with s3_errors("listing the multipart uploads of", bucket, prefix):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Uploads", []):
                parts = client.list_parts(Bucket=bucket, Key=item["Key"], UploadId=item["UploadId"]).get("Parts", [])
                newest = max((part["LastModified"] for part in parts), default=None)
                found.append(IncompleteUpload(bucket, item["Key"], item["UploadId"], item["Initiated"], newest))
    return sorted(found, key=lambda upload: (upload.idle_since, upload.key))


def abort_upload(settings: Settings, upload: IncompleteUpload) -> None:
    """Abort one multipart upload: S3 deletes the parts uploaded so far.

    An upload that completed or was aborted since it was listed is gone already, which is fine.
    """
    client = s3_client(settings)
    with s3_errors("aborting the multipart upload of", upload.bucket, upload.key):
        try:
            client.abort_multipart_upload(Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id)
        except client.exceptions.NoSuchUpload:
            return

"""Maintenance of the lake's buckets: abort the multipart uploads nobody will complete.

A producer killed while uploading a raw object, or a build killed while delta-rs wrote a large
file, leaves an incomplete multipart upload: parts that cost storage, that no listing shows and
that no one will ever complete. Uploads idle for longer than the threshold (no part written
since) are aborted in the raw bucket and the lake's bucket (under the lake's prefix), when the
lake is on S3. On AWS the buckets'
lifecycle rule does the same; an identity that may not list uploads leaves them to that rule.
Each bucket gets one row in the maintenance report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from featurelake.io.aws.s3 import PermanentS3Error
from featurelake.io.aws.uploads import IncompleteUpload, abort_upload, incomplete_uploads
from featurelake.operate.maintenance_plan import MaintenanceOptions, TableReport
from featurelake.settings import Settings

KIND = "uploads"


@dataclass
class UploadsReport(TableReport):
    """One bucket's incomplete multipart uploads: ``files`` counts them before and after, ``removed`` the aborted."""

    def as_row(self) -> dict[str, object]:
        """The maintenance table's row: no size, versions or checkpoint for a bucket."""
        return super().as_row() | {"MiB": "-", "versions": "-"}


def upload_buckets(settings: Settings) -> list[tuple[str, str]]:
    """(bucket, prefix) whose uploads maintenance looks after: the raw bucket and the lake's, for a lake on S3.

    A lake on a local directory is a local experiment: no bucket of it is maintenance's to clean.
    """
    if not settings.lake_uri.startswith("s3://"):
        return []
    lake_prefix = settings.lake_uri.removeprefix("s3://").partition("/")[2].strip("/")
    lake = (settings.lake_bucket, f"{lake_prefix}/" if lake_prefix else "")
    return [(settings.raw_bucket, "")] + ([lake] if lake[0] != settings.raw_bucket else [])


def maintain_uploads(
    settings: Settings, bucket: str, prefix: str, options: MaintenanceOptions, now: dt.datetime | None = None
) -> UploadsReport:
    """Abort (in a dry run: list) the uploads under ``prefix`` idle for longer than the threshold."""
    now = now or dt.datetime.now(dt.UTC)
    report = UploadsReport(f"s3://{bucket}/{prefix}", KIND, -1, 0, 0)
    try:
        uploads = incomplete_uploads(settings, bucket, prefix)
    except PermanentS3Error as error:  # e.g. an identity without s3:ListBucketMultipartUploads on AWS
        report.notes.append(f"incomplete uploads not checked ({error}); the bucket's lifecycle rule aborts them")
        return report
    threshold = options.abort_uploads_after
    stale = [u for u in uploads if threshold is not None and now - u.idle_since >= threshold]
    report.files_before = report.files_after = len(uploads)
    try:
        for upload in stale:
            _abort(settings, upload, options, report, now)
    except Exception as error:  # reported on the bucket's row: the run goes on, and fails at the end
        report.error = f"abort: {error}"
    if len(uploads) > len(stale):
        younger = "" if threshold is None else f" written to less than {threshold.total_seconds() / 3600:g} h ago"
        report.notes.append(f"{len(uploads) - len(stale)} incomplete upload(s){younger} left alone")
    return report


def _abort(
    settings: Settings, upload: IncompleteUpload, options: MaintenanceOptions, report: UploadsReport, now: dt.datetime
) -> None:
    """Abort one upload (not in a dry run) and say so on the report."""
    if not options.dry_run:
        abort_upload(settings, upload)
        report.files_after -= 1
    report.removed += 1
    report.notes.append(f"{'would abort' if options.dry_run else 'aborted'} incomplete upload {upload.describe(now)}")

"""An erasure's raw step: every version of the subject's raw objects, rewritten without the subject.

The lake's rows name the raw object they came from (``_source_key``), so the erasure knows which
keys to look at. Each key's every version is read, because an overwritten object keeps its old
versions in the versioned raw bucket; when any version holds the subject, the latest content is
rewritten without the subject's rows (:mod:`featurelake.core.raw_rewrite`) and every older
version is deleted, as the break-glass principal (:mod:`featurelake.io.aws.raw_erasure`).

The ingest log then records each rewritten key at its new ETag
(:func:`featurelake.erase.ingest_log.reconcile_ingest_log`):
otherwise the next ingest would take the rewrite for a producer's new version and ingest the
object again.
"""

from __future__ import annotations

import contextlib
import gzip
import re
from dataclasses import dataclass

from featurelake.core.raw_formats import UnreadableObjectError
from featurelake.core.raw_rewrite import IsSubject, RawRewrite, without_subject
from featurelake.io.aws.raw_erasure import (
    RawClient,
    break_glass_client,
    delete_versions,
    object_versions,
    read_version,
    replace_object,
)
from featurelake.io.aws.s3 import s3_client
from featurelake.settings import Settings

#: A value as it can sit in raw bytes: letters, digits and the punctuation of ids and e-mails.
_TOKEN = re.compile(rb"[A-Za-z0-9_.@+\-]{2,256}")


@dataclass(frozen=True)
class RawRewriteRecord:
    """What the raw step did (or, in a dry run, would do) to one key."""

    key: str
    #: The ETags of every version that held content before (all replaced or deleted), newest first.
    old_versions: tuple[str, ...]
    #: The rewritten object's ETag and version; None in a dry run, or when the latest version did
    #: not hold the subject (only older versions did, and they were deleted) or was a delete marker.
    new_etag: str | None
    new_version_id: str | None
    #: The subject's rows removed from the latest content.
    rows_removed: int
    #: The object could not be parsed (it was rejected whole at ingest) and its bytes hold the
    #: subject: every version was deleted, since no row of it can be kept without them.
    deleted: bool = False


def rewrite_raw_objects(
    settings: Settings, keys: list[str], column: str, is_subject: IsSubject, *, dry_run: bool
) -> list[RawRewriteRecord]:
    """Rewrite every raw object among ``keys`` whose any version holds the subject; one record per such key.

    A dry run reads with the break-glass role when it is configured (else with the pipeline's own
    identity, which must be allowed to list object versions) and writes nothing. A re-run after a
    complete run finds nothing and returns no record.

    Raises:
        BreakGlassError: not a dry run and ``settings.break_glass_role_arn`` is unset or cannot be assumed.

    A version that cannot be parsed (the object was rejected whole at ingest) is searched by its
    word-like byte runs (:func:`tokens_of`); when the latest one holds the subject, the object is
    deleted whole, every version (no row of it can be kept).
    """
    client = s3_client(settings) if dry_run and not settings.break_glass_role_arn else break_glass_client(settings)
    records = []
    for key in dict.fromkeys(keys):
        record = _rewrite_key(settings, client, key, column, is_subject, dry_run)
        if record is not None:
            records.append(record)
    return records


def _rewrite_key(
    settings: Settings, client: RawClient, key: str, column: str, is_subject: IsSubject, dry_run: bool
) -> RawRewriteRecord | None:
    bucket = settings.raw_bucket
    versions = [v for v in object_versions(client, bucket, key) if not v.is_delete_marker]
    found: dict[str, RawRewrite] = {}
    unreadable: set[str] = set()  # versions that cannot be parsed and whose bytes hold the subject
    for version in versions:
        data = read_version(client, bucket, key, version.version_id)
        try:
            found[version.version_id] = without_subject(key, data, column, is_subject)
        except UnreadableObjectError:
            found[version.version_id] = RawRewrite(None, 0, 0)
            if is_subject(tokens_of(data)):
                unreadable.add(version.version_id)
    if not unreadable and not any(r.data is not None for r in found.values()):
        return None
    latest = next((v for v in versions if v.is_latest), None)
    old = tuple(v.etag or "" for v in versions)
    if latest is not None and latest.version_id in unreadable:  # nothing of it can be kept: it goes whole
        if not dry_run:
            delete_versions(client, bucket, key, [v.version_id for v in versions])
        return RawRewriteRecord(key, old, None, None, 0, deleted=True)
    rewrite = found[latest.version_id] if latest is not None else None
    removed = rewrite.rows_removed if rewrite is not None else 0
    if dry_run:
        return RawRewriteRecord(key, old, None, None, removed)
    if rewrite is None or rewrite.data is None:  # only older versions hold the subject: they go, the latest stays
        delete_versions(client, bucket, key, [v.version_id for v in versions if not v.is_latest])
        return RawRewriteRecord(key, old, None, None, 0)
    new = replace_object(client, bucket, key, rewrite.data, settings)
    return RawRewriteRecord(key, old, new.etag, new.version_id, removed)


def tokens_of(data: bytes) -> list[str]:
    """The distinct word-like runs of an object's bytes (gzip opened when it can be): candidates for a value.

    A file that cannot be parsed (truncated, corrupt) may still hold a value as plain bytes; it
    is found by hashing these candidates, since the erasure holds no raw value to search for.
    """
    with contextlib.suppress(OSError, EOFError):
        data = gzip.decompress(data)
    return sorted({m.decode("utf-8", errors="replace") for m in _TOKEN.findall(data)})

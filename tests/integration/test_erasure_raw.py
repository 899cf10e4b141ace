"""An erasure's raw step on a versioned raw bucket (moto): every version checked, the subject gone from all."""

from __future__ import annotations

import gzip
import io

import polars as pl
import pytest

from featurelake.erase.ingest_log import reconcile_ingest_log
from featurelake.erase.raw import rewrite_raw_objects
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY, ingest_log_path
from featurelake.io.aws.raw_erasure import BreakGlassError, break_glass_client, object_versions, read_version
from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from flows.ingest import ingest
from tests.integration.helpers import DATA, upload

ROLE = "arn:aws:iam::123456789012:role/featurelake-break-glass"
KEY = "transactions/day=1/part-0.csv.gz"
ROWS = DATA.transactions.head(40).with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
SUBJECT = str(ROWS["customer_id"][0])


def _is_subject(values: list[str]) -> set[str]:
    return {v for v in values if v == SUBJECT}


def _object(rows: pl.DataFrame) -> bytes:
    return gzip.compress(rows.write_csv().encode())


def _with_break_glass(settings: Settings) -> Settings:
    return settings.model_copy(update={"break_glass_role_arn": ROLE})


def _subject_rows(data: bytes) -> int:
    frame = pl.read_csv(gzip.decompress(data), infer_schema=False)
    return frame.filter(pl.col("customer_id") == SUBJECT).height


def test_every_version_is_rewritten_or_deleted_and_the_ingest_log_follows(settings: Settings) -> None:
    subject_rows = ROWS.filter(pl.col("customer_id") == SUBJECT).height
    assert subject_rows >= 1
    upload(settings, {KEY: _object(ROWS.head(30))})
    upload(settings, {KEY: _object(ROWS)})  # the producer re-sent the object: two versions, both with the subject
    ingest(sources=["transactions"])
    client = s3_client(settings)
    before = object_versions(client, settings.raw_bucket, KEY)
    assert len(before) == 2
    assert all(_subject_rows(read_version(client, settings.raw_bucket, KEY, v.version_id)) for v in before)
    glass = _with_break_glass(settings)

    planned = rewrite_raw_objects(glass, [KEY, KEY], "customer_id", _is_subject, dry_run=True)

    assert [(r.key, r.old_versions, r.new_etag, r.rows_removed) for r in planned] == [
        (KEY, tuple(v.etag for v in before), None, subject_rows)
    ]
    assert object_versions(client, settings.raw_bucket, KEY) == before  # a dry run writes nothing

    done = rewrite_raw_objects(glass, [KEY], "customer_id", _is_subject, dry_run=False)

    after = object_versions(client, settings.raw_bucket, KEY)
    assert len(after) == 1
    assert after[0].is_latest
    assert (done[0].new_etag, done[0].new_version_id) == (after[0].etag, after[0].version_id)
    assert done[0].new_etag not in done[0].old_versions
    content = read_version(client, settings.raw_bucket, KEY, after[0].version_id)
    assert _subject_rows(content) == 0
    assert pl.read_csv(gzip.decompress(content), infer_schema=False).height == ROWS.height - subject_rows

    store = DeltaStore(settings)
    etags = {r.key: r.new_etag for r in done if r.new_etag}
    assert reconcile_ingest_log(store, "transactions", [KEY], etags, {}) is not None
    log = store.read(ingest_log_path("transactions")).filter(pl.col(SOURCE_KEY) == KEY)
    assert log[SOURCE_ETAG].to_list() == [after[0].etag]
    assert ingest(sources=["transactions"]) == []  # the rewrite is not taken for a producer's new object
    assert rewrite_raw_objects(glass, [KEY], "customer_id", _is_subject, dry_run=False) == []  # idempotent
    assert reconcile_ingest_log(store, "transactions", [KEY], etags, {}) is None  # already in line


def test_an_older_version_alone_holding_the_subject_is_deleted(settings: Settings) -> None:
    upload(settings, {KEY: _object(ROWS)})
    upload(settings, {KEY: _object(ROWS.filter(pl.col("customer_id") != SUBJECT))})
    client = s3_client(settings)
    latest = object_versions(client, settings.raw_bucket, KEY)[0]

    done = rewrite_raw_objects(_with_break_glass(settings), [KEY], "customer_id", _is_subject, dry_run=False)

    assert [(r.new_etag, r.rows_removed, len(r.old_versions)) for r in done] == [(None, 0, 2)]
    assert object_versions(client, settings.raw_bucket, KEY) == [latest]


def test_break_glass_client_assumes_the_role_and_needs_it_set(settings: Settings) -> None:
    with pytest.raises(BreakGlassError, match="FEATURELAKE_BREAK_GLASS_ROLE_ARN"):
        break_glass_client(settings)
    with pytest.raises(BreakGlassError, match="FEATURELAKE_BREAK_GLASS_ROLE_ARN"):
        rewrite_raw_objects(settings, [KEY], "customer_id", _is_subject, dry_run=False)

    client = break_glass_client(_with_break_glass(settings))

    credentials = client._request_signer._credentials  # type: ignore[attr-defined]  # the role's, not the caller's
    assert credentials.access_key != "test"
    assert credentials.token
    upload(settings, {KEY: _object(ROWS)})
    assert [v.is_latest for v in object_versions(client, settings.raw_bucket, KEY)] == [True]


def test_an_unreadable_object_holding_the_subject_is_deleted_whole_and_one_without_is_left(settings: Settings) -> None:
    buffer = io.BytesIO()
    DATA.transactions.head(40).write_parquet(buffer, compression="uncompressed")
    truncated = buffer.getvalue()[: len(buffer.getvalue()) // 2]  # cut: no footer, cannot be parsed
    other = buffer.getvalue()[: len(buffer.getvalue()) // 2].replace(SUBJECT.encode(), b"c-nobody"[: len(SUBJECT)])
    upload(settings, {"transactions/late/truncated.parquet": truncated, "transactions/late/other.parquet": other})
    glass = _with_break_glass(settings)
    keys = ["transactions/late/truncated.parquet", "transactions/late/other.parquet"]

    planned = rewrite_raw_objects(glass, keys, "customer_id", _is_subject, dry_run=True)
    assert [(r.key, r.deleted) for r in planned] == [("transactions/late/truncated.parquet", True)]
    done = rewrite_raw_objects(glass, keys, "customer_id", _is_subject, dry_run=False)

    assert [(r.key, r.deleted, r.new_etag) for r in done] == [("transactions/late/truncated.parquet", True, None)]
    client = s3_client(settings)
    assert object_versions(client, settings.raw_bucket, keys[0]) == []  # every version gone
    assert len(object_versions(client, settings.raw_bucket, keys[1])) == 1  # not the subject's: untouched
    assert rewrite_raw_objects(glass, keys, "customer_id", _is_subject, dry_run=False) == []

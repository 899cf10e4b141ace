"""The ingest stage's decisions, without Prefect or servers: order, retries, audit tags, duplicates, payloads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from featurelake.core import commits
from featurelake.core.contracts import RAW_CONTENT, REASON_COLUMN
from featurelake.core.naming import bronze_path
from featurelake.core.pii import PiiKeyError, key_id
from featurelake.ingest import announcements
from featurelake.ingest.announcements import bronze_appended
from featurelake.ingest.backlog import needs_pii_key, worth_retrying
from featurelake.ingest.bronze import (
    SOURCE_KEY,
    IngestResult,
    audit_tags,
    combine_results,
    ingest_log_path,
    not_ingested,
    run_tags,
    summary_rows,
)
from featurelake.ingest.duplicates import quarantine_repeated_keys
from featurelake.ingest.objects import split_bytes
from featurelake.ingest.order import pending_objects, same_second, upload_ordered
from featurelake.ingest.watcher import PendingObject, count_by_source
from featurelake.io.aws.raw import RawObject
from featurelake.io.aws.s3 import ObjectChangedError, PermanentS3Error
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from features.sources import FRAUD_LABELS, SOURCES, TRANSACTIONS

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
LABELS_CSV = b"txn_id,customer_id,merchant_id,event_time,is_fraud,labeled_at\n"


def _obj(key: str, etag: str = "e1", second: int | None = None) -> RawObject:
    modified = None if second is None else dt.datetime(2026, 11, 1, 0, 0, second, tzinfo=dt.UTC)
    return RawObject(key, etag, 10, modified)


def _labels(*txn_ids: str) -> bytes:
    rows = [f"{t},c1,m1,2026-11-01T00:00:00Z,false,2026-11-02T00:00:00Z" for t in txn_ids]
    return LABELS_CSV + "\n".join(rows).encode() + b"\n"


def _result(source: str = "transactions", version: int | None = 3, read: int = 5) -> IngestResult:
    return IngestResult(source, 2, read, 4, 1, version, ["a", "b"])


def test_pending_objects_are_new_or_rewritten_and_oldest_first() -> None:
    listed = [_obj("b", second=1), _obj("a", second=1), _obj("c", second=0), _obj("done"), _obj("rewritten", "e2")]
    done = {("done", "e1"), ("rewritten", "e1")}

    pending = pending_objects(listed, done)

    assert [o.key for o in pending] == ["rewritten", "c", "a", "b"]  # no time first; a tie goes by key
    assert [o.key for o in not_ingested(listed, done)] == ["b", "a", "c", "rewritten"]  # listing order kept


def test_a_same_second_tie_goes_by_landed_event_arrival_then_key() -> None:
    copy, original, other = _obj("a-copy", second=5), _obj("z-original", second=5), _obj("m", second=5)
    arrived = {("z-original", "e1"): NOW, ("a-copy", "e1"): NOW + dt.timedelta(milliseconds=40)}

    pending = pending_objects([copy, other, original, _obj("early", second=4)], set(), arrived)

    # the earlier second first; then the announced objects in arrival order; the unannounced one last
    assert [o.key for o in pending] == ["early", "z-original", "a-copy", "m"]
    assert [o.key for o in same_second(pending)] == ["z-original", "a-copy", "m"]


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: object) -> None:
        self.lines.append(msg % args)

    warning = info


def test_events_are_read_only_for_ties_and_when_they_cannot_be_read_ties_go_by_key() -> None:
    log, asked = _Lines(), []

    def unreadable(bucket: str, objects: list[tuple[str, str]]) -> dict[tuple[str, str], dt.datetime]:
        asked.append(objects)
        raise ConnectionError("the Prefect API does not answer")

    untied = [_obj("b", second=2), _obj("a", second=1)]
    assert [o.key for o in upload_ordered("raw", untied, set(), log, unreadable)] == ["a", "b"]
    assert (asked, log.lines) == ([], [])

    tied = [_obj("b", second=1), _obj("a", second=1), _obj("c", second=2)]
    assert [o.key for o in upload_ordered("raw", tied, set(), log, unreadable)] == ["a", "b", "c"]
    assert asked == [[("a", "e1"), ("b", "e1")]]  # only the tied ones, once
    assert log.lines == [
        "2 object(s) share an upload second and their landed events could not be read "
        "(the Prefect API does not answer); taking them in key order"
    ]


def test_only_failures_a_retry_can_fix_are_retried() -> None:
    assert worth_retrying(RuntimeError("connection reset"))
    assert worth_retrying(ObjectChangedError("overwritten"))
    assert not worth_retrying(PermanentS3Error("NoSuchBucket"))
    assert not worth_retrying(PiiKeyError("no key"))
    assert not worth_retrying(KeyError("secret"))


def test_audit_tags_name_the_run_and_the_pii_key_never_its_value() -> None:
    key = b"k" * 32

    tags = audit_tags("run-1", None, key)

    assert tags[commits.FLOW_RUN_ID] == "run-1"
    assert tags[commits.FLOW] == "ingest"
    assert tags[commits.DEPLOYMENT] == "(none: run directly)"
    assert tags[commits.CODE_REVISION]
    assert tags[commits.PII_KEY_ID] == key_id(key)
    assert key.decode() not in str(tags)
    assert commits.PII_KEY_ID not in audit_tags("run-1", "ingest/prod", None)
    assert audit_tags("run-1", "ingest/prod", None)[commits.DEPLOYMENT] == "ingest/prod"
    assert run_tags("run-1") == {commits.FLOW_RUN_ID: "run-1", commits.FLOW: "ingest"}


def test_only_contracts_that_hash_need_the_key() -> None:
    assert needs_pii_key(TRANSACTIONS)
    assert not needs_pii_key(FRAUD_LABELS)


def test_summary_rows_leave_out_the_object_keys_and_say_whether_counts_reconcile() -> None:
    rows = summary_rows([_result(), _result("fraud_labels", read=9)])

    assert [r["source"] for r in rows] == ["transactions", "fraud_labels"]
    assert all("source_keys" not in r for r in rows)
    assert [r["reconciled"] for r in rows] == [True, False]


def test_results_of_several_commits_combine_into_one() -> None:
    combined = combine_results([_result(version=3), _result(version=4)])

    assert (combined.objects_new, combined.rows_read, combined.bronze_version) == (4, 10, 4)
    assert combined.source_keys == ["a", "b", "a", "b"]


def test_a_key_repeated_in_a_later_object_is_quarantined_naming_the_first() -> None:
    first = split_bytes(FRAUD_LABELS, _obj("fraud_labels/1.csv"), _labels("t1", "t2"), NOW)
    second = split_bytes(FRAUD_LABELS, _obj("fraud_labels/2.csv"), _labels("t2", "t3"), NOW)

    checked = quarantine_repeated_keys(FRAUD_LABELS, [first, second])

    assert checked[0].accepted["txn_id"].to_list() == ["t1", "t2"]
    assert checked[1].accepted["txn_id"].to_list() == ["t3"]
    moved = checked[1].quarantined
    assert moved[REASON_COLUMN].to_list() == [
        "duplicate primary key ['txn_id']: already ingested from fraud_labels/1.csv"
    ]
    assert moved[SOURCE_KEY].to_list() == ["fraud_labels/2.csv"]
    assert '"txn_id":"t2"' in moved[RAW_CONTENT].item()
    assert all(batch.reconciled for batch in checked)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("missing.csv", b"txn_id,customer_id\nt1,c1\n", "missing column(s) ['merchant_id', 'event_time', 'is_fraud'"),
        ("extra.csv", _labels("t1").replace(b"\n", b",coupon\n"), "undeclared column(s) ['coupon']"),
        ("empty.csv", b"", "is empty (0 bytes)"),
    ],
)
def test_every_file_level_reason_starts_with_the_object_key(name: str, data: bytes, reason: str) -> None:
    key = f"fraud_labels/{name}"

    batch = split_bytes(FRAUD_LABELS, _obj(key), data, NOW)

    (text,) = batch.quarantined[REASON_COLUMN].to_list()
    assert text.startswith(f"{key}: {reason}")


def test_an_unreadable_file_with_pii_is_quarantined_whole_without_its_content() -> None:
    data = b'{"txn_id": "x1", "customer_email": "someone@mail.example.org", \n'

    batch = split_bytes(TRANSACTIONS, _obj("transactions/broken.ndjson"), data, NOW, b"k" * 32)

    assert (batch.rows_read, batch.accepted.height, batch.quarantined.height) == (1, 0, 1)
    assert batch.quarantined[RAW_CONTENT].item().startswith("[withheld: source 'transactions' declares PII")
    assert batch.reconciled


def test_the_bronze_appended_payload_names_the_table_and_what_landed() -> None:
    settings = Settings(lake_uri="s3://lake/prefix")

    payload = bronze_appended(settings, _result())

    assert payload.table_uri == settings.table_uri(bronze_path("transactions"))
    assert (payload.delta_version, payload.rows_accepted, payload.rows_quarantined) == (3, 4, 1)
    assert payload.source_keys == ["a", "b"]


@pytest.mark.parametrize("pending_sources", [[], ["transactions", "transactions"]])
def test_the_watcher_counts_every_source(pending_sources: list[str]) -> None:
    pending = [PendingObject(source, _obj(f"{source}/{i}")) for i, source in enumerate(pending_sources)]

    counts = count_by_source(SOURCES.values(), pending)

    assert counts == {contract.name: pending_sources.count(contract.name) for contract in SOURCES.values()}


def test_a_record_that_loses_a_race_does_not_undo_a_newer_one(tmp_path: Path) -> None:
    # Two ingests recorded concurrently: the one for bronze version 1 checked before the one for 2
    # wrote, and committed after it. The app transaction now says 1; the announcement of 2 stands.
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    newer, older = _result("transactions", 2), _result("transactions", 1)
    announcements._append_record(store, newer, {})
    announcements._append_record(store, older, {})
    assert store.app_version(ingest_log_path("transactions"), commits.ANNOUNCED_APP_ID) == 1
    assert announcements.announced_version(store, "transactions") == 2
    assert not announcements.needs_announcement(store, newer)
    assert announcements.needs_announcement(store, _result("transactions", 3))

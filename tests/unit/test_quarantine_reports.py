"""Quarantine you can see, on a local-filesystem lake: what a run commits, reports and the CLI lists.

No servers: the lake is a directory, the batches are split from bytes with the code ingest runs,
and the CLI reads the same lake through its settings.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from featurelake.cli.errors import OneLineErrors
from featurelake.cli.quarantine import parse_since, quarantine
from featurelake.core import events
from featurelake.core.contracts import REASON_COLUMN
from featurelake.ingest import quarantine_report
from featurelake.ingest.bronze import IngestResult, ObjectBatch, audit_tags, combine_results, write_batches
from featurelake.ingest.objects import split_bytes
from featurelake.ingest.quarantine_view import quarantine_groups, quarantine_records
from featurelake.ingest.reasons import count_reasons, object_quarantine
from featurelake.io.aws.raw import RawObject
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings, get_settings
from features.sources import FRAUD_LABELS

NOW = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)
HEADER = b"txn_id,customer_id,merchant_id,event_time,is_fraud,labeled_at\n"
GOOD = b"{t},c1,m1,2026-11-01T00:00:00Z,false,2026-11-02T00:00:00Z\n"
SECRET = "c-secret-42"  # a value that must never reach a reason, an artifact or an event


def _csv(*lines: bytes) -> bytes:
    return HEADER + b"".join(lines)


def _batch(key: str, data: bytes, now: dt.datetime = NOW) -> ObjectBatch:
    return split_bytes(FRAUD_LABELS, RawObject(key, f"etag-{key}", len(data)), data, now)


def _bad_day(key: str = "fraud_labels/day-1.csv", now: dt.datetime = NOW) -> ObjectBatch:
    """Two good rows, two rows with a bad flag (the value is not quoted), one without a customer."""
    rows = [GOOD.replace(b"{t}", t) for t in (b"t1", b"t2")]
    rows += [f"t3,{SECRET},m1,2026-11-01T00:00:00Z,maybe,2026-11-02T00:00:00Z\n".encode()]
    rows += [b"t4,c1,m1,2026-11-01T00:00:00Z,perhaps,2026-11-02T00:00:00Z\n", b"t5,,m1,2026-11-01T00:00:00Z,true,\n"]
    return _batch(key, _csv(*rows), now)


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))


def test_reasons_are_counted_most_frequent_first() -> None:
    batch = _bad_day()

    counted = object_quarantine(batch.obj.key, batch.obj.etag, batch.quarantined)

    assert [(r.reason, r.rows) for r in counted.reasons] == [
        ("is_fraud: not a valid Boolean", 2),
        ("customer_id: required but null", 1),
    ]
    assert counted.rows == 3
    assert count_reasons(batch.quarantined)[REASON_COLUMN].to_list() == [r.reason for r in counted.reasons]


def test_a_run_that_commits_objects_another_run_committed_first_counts_none_of_them(store: DeltaStore) -> None:
    """Two overlapping ingests of the same objects: the second log commit finds them logged already."""
    batches = [_bad_day(), _batch("fraud_labels/day-2.csv", _csv(GOOD.replace(b"{t}", b"t6")))]

    first = write_batches(store, FRAUD_LABELS, batches, audit_tags("run-1", None, None))
    second = write_batches(store, FRAUD_LABELS, batches, audit_tags("run-2", None, None))

    assert (first.objects_new, first.rows_accepted, first.rows_quarantined) == (2, 3, 3)
    assert (second.objects_new, second.rows_read, second.rows_accepted, second.rows_quarantined) == (0, 0, 0, 0)
    assert second.source_keys == []
    assert second.quarantined == ()
    assert [q.key for q in first.quarantined] == ["fraud_labels/day-1.csv"]  # day 2 had nothing to quarantine
    assert first.quarantine_version is not None
    assert store.read("bronze/fraud_labels").height == 3  # each row once, whoever wrote it last


def _result(objects: list[events.QuarantinedObject]) -> IngestResult:
    rows = sum(o.rows for o in objects)
    return IngestResult("fraud_labels", len(objects), rows, 0, rows, 3, [o.key for o in objects], 7, tuple(objects))


def _object(key: str, reasons: dict[str, int]) -> events.QuarantinedObject:
    listed = [events.QuarantineReason(reason=r, rows=n) for r, n in reasons.items()]
    return events.QuarantinedObject(key=key, etag="e", rows=sum(reasons.values()), reasons=listed)


def test_the_markdown_lists_every_object_and_reason_in_full_with_pipes_escaped() -> None:
    long_key = "fraud_labels/" + "deeply/nested/" * 12 + "part-0-resent.parquet"
    reason = f"duplicate primary key ['txn_id']: already ingested from {long_key}"
    result = _result(
        [
            _object(long_key, {reason: 1000}),
            _object("fraud_labels/a.csv", {"fraud_labels/a.csv: looks '|'-delimited; expected ','": 1}),
        ]
    )

    markdown = quarantine_report.quarantine_markdown([result])

    assert f"| `{long_key}` | `{reason}` | 1000 |" in markdown
    assert "| `fraud_labels/a.csv` | `fraud_labels/a.csv: looks '\\|'-delimited; expected ','` | 1 |" in markdown
    assert markdown.startswith("# 1001 rows quarantined from 2 object(s)")
    assert quarantine_report.artifact_description([result]) == "1001 rows quarantined from 2 object(s)"
    assert quarantine_report.summary_description([result]).endswith(
        "; 1001 rows quarantined (see the ingest-quarantine artifact)"
    )


def test_the_warning_and_the_event_are_bounded_and_count_what_they_leave_out() -> None:
    many = {f"reason {i:02d}": 1 for i in range(quarantine_report.EVENT_REASONS + 5)}
    objects = [_object(f"fraud_labels/{i:03d}.csv", many) for i in range(quarantine_report.EVENT_OBJECTS + 2)]
    result = _result(objects)

    payload = quarantine_report.quarantined_payload(Settings(lake_uri="s3://lake"), result)
    warning = quarantine_report.warning_text(result).splitlines()

    assert (payload.objects_quarantined, payload.more_objects) == (len(objects), 2)
    assert len(payload.objects) == quarantine_report.EVENT_OBJECTS
    assert {(len(o.reasons), o.more_reasons) for o in payload.objects} == {(quarantine_report.EVENT_REASONS, 5)}
    assert payload.rows_quarantined == result.rows_quarantined
    assert (payload.table_uri, payload.delta_version) == ("s3://lake/quarantine/fraud_labels", 7)
    assert warning[0].startswith(f"fraud_labels: {result.rows_quarantined} row(s) quarantined from 52 object(s)")
    assert warning[1] == "  fraud_labels/000.csv: 1 x reason 00"
    assert len(warning) == 1 + quarantine_report.WARNING_LINES + 1
    assert events.RAW_OBJECT_QUARANTINED in events.PAYLOADS


def test_reports_of_a_real_batch_carry_no_row_value(store: DeltaStore) -> None:
    result = write_batches(store, FRAUD_LABELS, [_bad_day()], audit_tags("run-1", None, None))

    texts = [
        quarantine_report.quarantine_markdown([result]),
        quarantine_report.warning_text(result),
        quarantine_report.quarantined_payload(Settings(lake_uri="s3://lake"), result).model_dump_json(),
    ]

    assert all(SECRET not in text and "maybe" not in text for text in texts)
    assert SECRET in store.read("quarantine/fraud_labels")["_raw"].str.join("").item()  # it is in _raw only


def test_the_view_groups_filters_and_shows_content_only_as_records(store: DeltaStore) -> None:
    later = NOW + dt.timedelta(days=1)
    write_batches(store, FRAUD_LABELS, [_bad_day()], audit_tags("run-1", None, None))
    write_batches(store, FRAUD_LABELS, [_bad_day("fraud_labels/day-2.csv", later)], audit_tags("run-2", None, None))

    groups = quarantine_groups(store, ["fraud_labels", "transactions"])
    recent = quarantine_groups(store, ["fraud_labels"], since=later)
    one = quarantine_records(store, ["fraud_labels"], object_key="fraud_labels/day-1.csv", limit=2)

    assert [(g.object_key, g.reason, g.rows) for g in groups] == [
        ("fraud_labels/day-1.csv", "is_fraud: not a valid Boolean", 2),
        ("fraud_labels/day-1.csv", "customer_id: required but null", 1),
        ("fraud_labels/day-2.csv", "is_fraud: not a valid Boolean", 2),
        ("fraud_labels/day-2.csv", "customer_id: required but null", 1),
    ]  # transactions never quarantined anything: no table, no rows
    assert {g.object_key for g in recent} == {"fraud_labels/day-2.csv"}
    assert recent[0].first_ingested_at == later
    assert len(one) == 2
    assert {r.object_key for r in one} == {"fraud_labels/day-1.csv"}
    assert all(r.content.startswith("{") for r in one)


def _cli(store: DeltaStore, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("FEATURELAKE_LAKE_URI", store.uri(""))
    get_settings.cache_clear()
    app = typer.Typer(cls=OneLineErrors)  # the featurelake app's error handling
    app.command()(quarantine)
    app.command("unused")(lambda: None)  # two commands: typer then expects the command's name
    result = CliRunner().invoke(app, ["quarantine", *args])
    get_settings.cache_clear()
    return result.exit_code, result.output


def test_the_command_prints_counts_json_or_records_and_no_content_unasked(
    store: DeltaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batches(store, FRAUD_LABELS, [_bad_day()], audit_tags("run-1", None, None))

    code, table = _cli(store, monkeypatch, "--source", "fraud_labels")
    _, as_json = _cli(store, monkeypatch, "--json", "--since", "2026-11-26")
    _, records = _cli(store, monkeypatch, "--raw", "--object", "fraud_labels/day-1.csv", "--json")
    _, none = _cli(store, monkeypatch, "--since", "2026-11-27T00:00:00+01:00")

    assert code == 0, table
    assert "fraud_labels/day-1.csv" in table
    assert "is_fraud: not a valid Boolean" in table
    assert SECRET not in table
    assert [(g["reason"], g["rows"]) for g in json.loads(as_json)] == [
        ("is_fraud: not a valid Boolean", 2),
        ("customer_id: required but null", 1),
    ]
    assert SECRET not in as_json
    assert len(json.loads(records)) == 3
    assert SECRET in records  # asked for: the stored content, as the contract protected it
    assert none.startswith(
        "no quarantined rows in source(s) fraud_labels, transactions, ingested since 2026-11-26T23:00"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nope"], "error: unknown source(s) ['nope']; the features package declares"),
        (["--since", "yesterday"], "error: --since 'yesterday' is not an ISO 8601 time; e.g. 2026-11-26"),
    ],
)
def test_bad_input_exits_1_with_one_line(
    store: DeltaStore, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    code, output = _cli(store, monkeypatch, *args)

    assert code == 1
    assert output.startswith(message)
    assert len(output.strip().splitlines()) == 1


def test_since_without_an_offset_is_utc() -> None:
    assert parse_since("2026-11-26T09:30:00") == dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    assert parse_since("2026-11-26T10:30:00+01:00") == dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    assert parse_since(None) is None


def test_combined_results_keep_every_object_and_the_newest_quarantine_version() -> None:
    a, b = _result([_object("fraud_labels/a.csv", {"r": 1})]), _result([_object("fraud_labels/b.csv", {"r": 2})])
    b = IngestResult(**{**vars(b), "quarantine_version": 9})

    combined = combine_results([a, b])

    assert [q.key for q in combined.quarantined] == ["fraud_labels/a.csv", "fraud_labels/b.csv"]
    assert combined.quarantine_version == 9
    assert pl.Series([combined.rows_quarantined]).item() == 3

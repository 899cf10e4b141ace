"""Ingest against a real S3 endpoint and real Delta tables: reconcile, quarantine, idempotency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.ingest.bronze import SOURCE_KEY, ingest_log_path
from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings, get_settings
from flows.ingest import ingest
from tests.integration.helpers import DATA, demo_objects, upload


def _by_source(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["source"]): r for r in rows}


def test_counts_reconcile_and_bad_input_is_quarantined_with_reasons(settings: Settings) -> None:
    objects = demo_objects()
    objects["transactions/broken.parquet"] = b"PAR1 this is not parquet"
    objects["transactions/empty.csv"] = b"txn_id,customer_id,merchant_id,amount,currency,country,event_time\n"
    upload(settings, objects)

    result = _by_source(ingest())

    txns = result["transactions"]
    assert txns["reconciled"] is True
    assert txns["rows_accepted"] == DATA.transactions.height
    assert txns["rows_quarantined"] == 4  # two malformed rows, one corrupt file, one empty file
    store = DeltaStore(settings)
    bronze = store.read(bronze_path("transactions"))
    assert bronze.height == DATA.transactions.height
    assert bronze["txn_id"].n_unique() == bronze.height
    reasons = store.read(quarantine_path("transactions"))["_reason"].to_list()
    assert any(r.startswith("amount: not a valid") for r in reasons)
    assert "customer_id: required but null" in reasons
    assert any("broken.parquet: cannot be parsed" in r for r in reasons)
    assert any("empty.csv: holds no rows" in r for r in reasons)
    assert result["fraud_labels"]["rows_accepted"] == DATA.labels.height


def test_rerun_changes_nothing(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest()
    store = DeltaStore(settings)
    before = store.version(bronze_path("transactions"))

    assert ingest() == []
    assert store.version(bronze_path("transactions")) == before


def test_rerun_after_crash_before_the_log_leaves_each_row_once(settings: Settings) -> None:
    """Bronze and quarantine written, ingest log lost (a crash before its commit): re-run repairs."""
    upload(settings, demo_objects())
    ingest()
    client = s3_client(settings)
    lake = settings.lake_uri.removeprefix("s3://")
    log_keys = client.list_objects_v2(Bucket=lake, Prefix=ingest_log_path("transactions"))["Contents"]
    client.delete_objects(Bucket=lake, Delete={"Objects": [{"Key": o["Key"]} for o in log_keys]})

    rows = _by_source(ingest(["transactions"]))

    store = DeltaStore(settings)
    bronze = store.read(bronze_path("transactions"))
    assert rows["transactions"]["rows_accepted"] == DATA.transactions.height
    assert bronze.height == DATA.transactions.height
    assert bronze["txn_id"].n_unique() == bronze.height
    assert store.read(quarantine_path("transactions")).height == 2
    assert bronze[SOURCE_KEY].n_unique() == 6


def test_lake_objects_are_encrypted_at_rest(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest()
    client = s3_client(settings)
    lake = settings.lake_uri.removeprefix("s3://")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=lake)["Contents"]]
    assert keys
    headers = {client.head_object(Bucket=lake, Key=k).get("ServerSideEncryption") for k in keys}
    assert headers == {"AES256"}


def test_raw_bucket_is_never_written(settings: Settings) -> None:
    keys = upload(settings, demo_objects())
    client = s3_client(settings)
    before = {o["Key"]: o["ETag"] for o in client.list_objects_v2(Bucket=settings.raw_bucket)["Contents"]}
    ingest()
    after = {o["Key"]: o["ETag"] for o in client.list_objects_v2(Bucket=settings.raw_bucket)["Contents"]}
    assert after == before
    assert sorted(after) == sorted(keys)


def test_listing_pages_through_more_than_a_thousand_objects(settings: Settings) -> None:
    from featurelake.io.aws.raw import list_raw_objects

    upload(settings, {f"fraud_labels/many/{i:05d}.csv": b"x\n" for i in range(1_005)})

    listed = list_raw_objects(settings, "fraud_labels/")

    assert len(listed) == 1_005  # S3 returns at most 1,000 keys per page
    assert [o.key for o in listed] == sorted(o.key for o in listed)


def test_a_backlog_is_committed_in_bounded_chunks_that_add_up(settings: Settings) -> None:
    objects = {k: v for k, v in demo_objects().items() if k.startswith("transactions/")}
    upload(settings, objects)

    (result,) = ingest(["transactions"], objects_per_commit=2)

    store = DeltaStore(settings)
    commits = [c for c in store.history(ingest_log_path("transactions")) if "featurelake.objects" in c]
    assert sorted(int(c["featurelake.objects"]) for c in commits) == sorted(
        [2] * (len(objects) // 2) + [1] * (len(objects) % 2)
    )
    assert result["objects_new"] == len(objects)
    assert result["rows_accepted"] == DATA.transactions.height == store.read(bronze_path("transactions")).height
    assert result["reconciled"] is True


def test_ingest_reports_openlineage_raw_prefixes_in_bronze_versions_out(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lineage = tmp_path / "ol.ndjson"
    monkeypatch.setenv("FEATURELAKE_OPENLINEAGE_FILE", str(lineage))
    get_settings.cache_clear()
    upload(settings, demo_objects())

    ingest()

    start, complete = (json.loads(line) for line in lineage.read_text().splitlines())
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["job"]["name"] == "ingest"
    assert {(i["namespace"], i["name"]) for i in start["inputs"]} == {
        (f"s3://{settings.raw_bucket}", "fraud_labels/"),
        (f"s3://{settings.raw_bucket}", "transactions/"),
    }
    store = DeltaStore(settings)
    outputs = {o["name"]: o["facets"]["version"]["datasetVersion"] for o in complete["outputs"]}
    assert outputs == {
        bronze_path("fraud_labels"): str(store.version(bronze_path("fraud_labels"))),
        bronze_path("transactions"): str(store.version(bronze_path("transactions"))),
    }

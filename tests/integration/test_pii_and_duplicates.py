"""PII never reaches the lake, Prefect logs, artifacts or events; re-sent files do not double bronze rows."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogWorker

from featurelake.core import events
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.core.pii import PiiKeyError, hmac_hex, key_id
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.secrets import read_pii_key
from featurelake.settings import Settings, get_settings
from flows.ingest import ingest
from tests.integration.helpers import DATA, by_id, demo_objects, upload, wait_for_events
from tests.pii_scan import frame_findings, lake_findings, pii_needles, text_findings

NEEDLES = pii_needles(DATA.transactions)


def _bad_objects_with_pii() -> dict[str, bytes]:
    """Bad input that carries personal data: each must be quarantined without leaking it."""
    row = DATA.transactions.head(3).with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    drifted = row.with_columns(pl.col("customer_email").alias("contact_email")).write_csv().encode()
    bad_card = row.with_columns(
        pl.lit("4111-1111-1111-1111 x").alias("card_number"), pl.format("bad-card-{}", "txn_id").alias("txn_id")
    )
    return {
        "transactions/corrupt.ndjson": b'{"txn_id": "x1", "customer_email": "holder.00001@mail.example.org", \n',
        "transactions/drifted.csv": drifted,  # an undeclared column repeating the e-mail
        "transactions/bad-card.csv": bad_card.write_csv().encode(),  # card pattern broken, value quoted nowhere
    }


def _ingest_run() -> tuple[list[dict[str, object]], str]:
    state = ingest(return_state=True)
    rows = state.result()
    return rows, str(state.state_details.flow_run_id)


def test_no_raw_pii_in_lake_tables_objects_logs_or_artifacts(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    upload(settings, {**demo_objects(), **_bad_objects_with_pii()})

    rows, flow_run_id = _ingest_run()

    txns = next(r for r in rows if r["source"] == "transactions")
    assert txns["reconciled"] is True
    reasons = DeltaStore(settings).read(quarantine_path("transactions"))["_reason"].to_list()
    assert any("corrupt.ndjson" in r for r in reasons)
    assert any("undeclared column(s) ['contact_email']" in r for r in reasons)
    assert reasons.count("card_number: value does not match '[0-9]{12,19}'") == 3
    assert lake_findings(settings, [*NEEDLES, "4111-1111-1111-1111"]) == []
    # Logs reach the API from a background worker in batches; the flow's end does not wait for
    # them (measured: an empty read under load). Send what is queued before reading it back.
    APILogWorker.drain_all()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(flow_run_id)])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
        )
    assert logs
    assert artifacts
    texts = [(f"log {log.id}", log.message) for log in logs]
    texts += [(f"artifact {a.key}", str(a.data)) for a in artifacts]
    texts.append(("captured log", caplog.text))
    event = _quarantined_event(settings)
    assert "card_number: value does not match '[0-9]{12,19}'" in json.dumps(event.payload)  # the scan has a target
    texts.append((f"event {event.event}", json.dumps(event.payload)))
    assert text_findings(texts, NEEDLES) == []


def _quarantined_event(settings: Settings) -> Any:
    """The run's ``featurelake.raw-object.quarantined`` event (every quarantined object came from that run)."""
    path = quarantine_path("transactions")
    objects = DeltaStore(settings).read(path, columns=["_source_key", "_source_etag"]).unique()
    discriminator = events.at(settings.table_uri(path), events.objects_digest(list(objects.iter_rows())))
    resource = events.quarantine_resource_id("transactions")
    (event,) = wait_for_events(by_id(events.event_id(events.RAW_OBJECT_QUARANTINED, resource, discriminator)))
    return event


def test_pii_columns_are_dropped_masked_and_keyed_hashed(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest(["transactions"])

    store = DeltaStore(settings)
    bronze = store.read(bronze_path("transactions")).join(
        DATA.transactions.select(
            "txn_id", pl.col("customer_email").alias("raw_email"), pl.col("card_number").alias("raw_card")
        ),
        on="txn_id",
    )
    key = read_pii_key(settings)
    assert "ip_address" not in bronze.columns
    assert bronze["customer_email"].to_list() == [hmac_hex(key, e) for e in bronze["raw_email"]]
    assert (
        bronze.select(pl.col("customer_email").n_unique()).item()
        == bronze.select(pl.col("raw_email").n_unique()).item()
    )
    assert bronze["card_number"].to_list() == ["*" * 12 + c[-4:] for c in bronze["raw_card"]]
    commit = store.history(bronze_path("transactions"), 1)[0]
    assert commit["featurelake.pii_key_id"] == key_id(key)
    assert frame_findings(bronze.drop("raw_email", "raw_card"), NEEDLES) == []


def test_the_key_can_live_in_aws_secrets_manager(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    name, key = f"featurelake/pii-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex + uuid.uuid4().hex
    boto3.client(
        "secretsmanager", endpoint_url=settings.s3_endpoint_url, region_name=settings.aws_region
    ).create_secret(Name=name, SecretString=key)
    monkeypatch.setenv("FEATURELAKE_PII_KEY_SOURCE", "aws-secrets-manager")
    monkeypatch.setenv("FEATURELAKE_PII_KEY_NAME", name)
    get_settings.cache_clear()
    upload(settings, demo_objects())

    ingest(["transactions"])

    bronze = DeltaStore(settings).read(bronze_path("transactions"))
    first = DATA.transactions.filter(pl.col("txn_id") == bronze["txn_id"][0])["customer_email"].item()
    assert bronze["customer_email"][0] == hmac_hex(key.encode(), first)


def test_a_missing_key_fails_naming_the_block_and_blocks_only_its_source(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEATURELAKE_PII_KEY_NAME", "no-such-block")
    get_settings.cache_clear()
    upload(settings, demo_objects())

    with pytest.raises(PiiKeyError, match="Prefect Secret block 'no-such-block'"):
        ingest(["transactions", "fraud_labels"])  # the failing source first: the one after it must still land

    assert DeltaStore(settings).version(bronze_path("transactions")) is None
    assert DeltaStore(settings).version(quarantine_path("transactions")) is None
    assert DeltaStore(settings).read(bronze_path("fraud_labels")).height == DATA.labels.height  # not blocked


def test_a_file_resent_under_a_new_name_is_quarantined_as_duplicate_keys(settings: Settings) -> None:
    objects = demo_objects()
    upload(settings, objects)
    ingest(["transactions"])
    store = DeltaStore(settings)
    before = store.read(bronze_path("transactions")).height
    original = next(k for k in objects if k.startswith("transactions/") and k.endswith(".parquet"))
    resent = original.replace("part-0", "part-0-resent")

    upload(settings, {resent: objects[original]})
    (result,) = ingest(["transactions"])

    bronze = store.read(bronze_path("transactions"))
    assert bronze.height == before
    assert bronze["txn_id"].n_unique() == bronze.height
    assert result["rows_accepted"] == 0
    assert result["rows_quarantined"] == result["rows_read"] > 0
    assert result["reconciled"] is True
    quarantined = store.read(quarantine_path("transactions")).filter(pl.col("_source_key") == resent)
    assert quarantined["_reason"].unique().to_list() == [
        f"duplicate primary key ['txn_id']: already ingested from {original}"
    ]
    assert frame_findings(quarantined, NEEDLES) == []


def test_the_scan_finds_raw_values_where_they_are(settings: Settings) -> None:
    """The scan is not vacuous: pointed at the raw bucket (which keeps producers' bytes), it finds them."""
    upload(settings, demo_objects())
    raw_as_lake = settings.model_copy(update={"lake_uri": f"s3://{settings.raw_bucket}"})

    findings = lake_findings(raw_as_lake, NEEDLES)

    csv_key = next(k for k in demo_objects() if k.endswith(".csv") and k.startswith("transactions/"))
    assert any(csv_key in f and "@mail.example.org" in f for f in findings)
    assert any(csv_key in f and "198.51.100." in f for f in findings)


def test_within_one_run_the_older_of_two_copies_keeps_its_rows(settings: Settings) -> None:
    objects = demo_objects()
    original = next(k for k in sorted(objects) if k.startswith("transactions/") and k.endswith(".parquet"))
    copy = original.replace("part-0", "part-0-copy")  # sorts before the original
    upload(settings, {original: objects[original]})
    time.sleep(1.1)  # S3 reports modification times in whole seconds
    upload(settings, {copy: objects[original]})

    ingest(["transactions"])

    store = DeltaStore(settings)
    assert set(store.read(bronze_path("transactions"))["_source_key"]) == {original}
    reasons = store.read(quarantine_path("transactions")).filter(pl.col("_source_key") == copy)["_reason"]
    assert set(reasons) == {f"duplicate primary key ['txn_id']: already ingested from {original}"}

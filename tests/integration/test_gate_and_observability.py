"""The gate and what builds report: blocked batches explained and kept, warn-only expectations,
Delta CHECK constraints, drift against the last publish, OpenLineage events (file transport)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from featurelake.core.events import FEATURE_SET_DRIFTED, FEATURE_SET_VALIDATION_FAILED, at, event_id
from featurelake.core.naming import feature_quarantine_path, feature_set_resource_id
from featurelake.io.delta.store import DeltaStore
from featurelake.local import synthetic
from featurelake.settings import Settings, get_settings
from featurelake.validate.gate import ValidationFailedError
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from tests.catalogs.strict import STRICT
from tests.integration.helpers import by_id, demo_objects, upload, wait_for_events


def _use_features(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setenv("FEATURELAKE_FEATURES_MODULE", module)
    get_settings.cache_clear()


def _lineage_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "lineage" / "events.ndjson"
    monkeypatch.setenv("FEATURELAKE_OPENLINEAGE_FILE", str(path))
    get_settings.cache_clear()
    return path


def _build_events(lineage: Path) -> list[dict[str, Any]]:
    """The OpenLineage events of builds in the file (ingest reports its own runs there too)."""
    events = [json.loads(line) for line in lineage.read_text().splitlines()]
    return [e for e in events if e["job"]["name"].startswith("build_features.")]


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no artifact {key}"
    return str(max(found, key=lambda a: a.created or 0).data)


def test_a_bad_batch_is_blocked_kept_in_quarantine_and_explained(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_features(monkeypatch, "tests.catalogs.strict")
    lineage = _lineage_file(monkeypatch, tmp_path)
    upload(settings, demo_objects())
    ingest()

    with pytest.raises(ValidationFailedError):
        build_features("customer_txn_strict", 1)

    store = DeltaStore(settings)
    assert store.version(STRICT.table_path) is None  # nothing published, not even an empty table
    kept = store.read(feature_quarantine_path(STRICT.name, STRICT.version))
    assert kept.height > 0
    (bronze_version,) = kept["_bronze_version"].unique().to_list()
    failed = json.loads(kept["_failed_expectations"][0])
    assert any("amount_max_1h" in f for f in failed)
    report = _artifact("validation-customer-txn-strict")
    assert "validation FAILED" in report
    assert "not published" in report
    assert "| error | `expect_column_values_to_be_between(column=amount_max_1h" in report
    resource = feature_set_resource_id(STRICT)
    discriminator = at(store.uri(STRICT.table_path), f"bronze-{bronze_version}")
    (event,) = wait_for_events(by_id(event_id(FEATURE_SET_VALIDATION_FAILED, resource, discriminator)))
    assert event.payload["quarantine_uri"] == store.uri(feature_quarantine_path(STRICT.name, STRICT.version))
    assert event.payload["rows"] == kept.height
    assert [e["eventType"] for e in _build_events(lineage)] == ["START", "FAIL"]


def test_warn_only_expectations_publish_but_flag(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_features(monkeypatch, "tests.catalogs.warned")
    upload(settings, demo_objects())
    ingest()

    summary = build_features("customer_txn_warned", 1)

    assert summary["warnings"] == ["expect_column_max_to_be_between(column=amount_max_1h, max_value=50.0)"]
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(str(summary["mlflow_run_id"]))
    assert run.data.metrics["validation_success"] == 1.0
    assert run.data.metrics["expectations_warned"] == 1.0
    assert run.data.metrics["expectations_failed"] == 0.0
    assert "| warn | `expect_column_max_to_be_between" in _artifact("validation-customer-txn-warned")


def test_published_tables_refuse_rows_that_break_the_spec(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest()
    build_features("customer_txn", 1)
    store = DeltaStore(settings)
    configuration = store.existing(CUSTOMER_TXN.table_path).metadata().configuration
    assert "delta.constraints.amount_sum_24h_valid" in configuration
    row = store.read(CUSTOMER_TXN.table_path).head(1).with_columns(pl.lit(-5.0).alias("amount_sum_24h"))

    with pytest.raises(Exception, match=r"(?i)check|constraint|invariant"):
        store.write(CUSTOMER_TXN.table_path, row, mode="append", metadata={"featurelake.actor": "test"})


def _days_of(objects: dict[str, bytes], days: list[str]) -> dict[str, bytes]:
    return {key: body for key, body in objects.items() if any(f"day={day}/" in key for day in days)}


def _drift_metrics(settings: Settings, summary: dict[str, object]) -> dict[str, float]:
    return mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(str(summary["mlflow_run_id"])).data.metrics


def test_drift_compares_like_with_like_ignores_a_shifted_copy_and_announces_a_real_shift(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lineage = _lineage_file(monkeypatch, tmp_path)
    weeks = synthetic.generate(days=17)  # two full weeks of history: 7-day windows are full from day 8 on
    txns, day = weeks.transactions, pl.col("event_time").dt.date()
    days = sorted(str(d) for d in txns["event_time"].dt.date().unique())
    # Day 16 is a shifted copy: day 9's transactions replayed a week later. Day 17 has a currency bug upstream.
    replay = txns.filter(day.cast(pl.String) == days[8]).with_columns(
        pl.col("event_time") + timedelta(days=7), pl.col("txn_id") + "-replay"
    )
    buggy = txns.filter(day.cast(pl.String) == days[16]).with_columns(pl.col("amount") * 40)
    lake_days = pl.concat([txns.filter(day.cast(pl.String) <= days[14]), replay, buggy])
    objects = synthetic.raw_objects(dataclasses.replace(weeks, transactions=lake_days))
    summaries = []
    for batch in (days[:14], days[14:15], days[15:16], days[16:]):
        upload(settings, _days_of(objects, batch))
        ingest()
        summaries.append(build_features("customer_txn", 1))
    first, steady, copied, shifted = summaries

    for summary in (steady, copied):  # a new day like the ones before it, and last week replayed: no alarm
        metrics = _drift_metrics(settings, summary)
        assert metrics["drift_judged_features"] == len(CUSTOMER_TXN.feature_names)
        assert metrics["drift_breached_features"] == 0
    metrics = _drift_metrics(settings, shifted)
    assert metrics["drift_psi.amount_sum_24h"] > 0.25
    assert metrics["drift_breached_features"] >= 1
    resource = feature_set_resource_id(CUSTOMER_TXN)
    discriminator = at(DeltaStore(settings).uri(CUSTOMER_TXN.table_path), shifted["delta_version"])
    (event,) = wait_for_events(by_id(event_id(FEATURE_SET_DRIFTED, resource, discriminator)))
    assert event.payload["reference_delta_version"] == copied["delta_version"]
    assert "amount_sum_24h" in {f["feature"] for f in event.payload["features"] if f["breached"]}
    assert "amount_count_24h" not in {f["feature"] for f in event.payload["features"] if f["breached"]}
    report = _artifact("drift-customer-txn")
    assert "**drifted**" in report
    assert f"Days {days[16]} of this batch against days {days[15]} of Delta version {copied['delta_version']}" in report
    events = _build_events(lineage)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"] * 4
    complete = events[-1]
    assert uuid.UUID(complete["run"]["runId"])
    (output,) = complete["outputs"]
    assert output["namespace"] == f"s3://{settings.lake_bucket}"
    assert output["name"] == CUSTOMER_TXN.table_path
    assert output["facets"]["version"]["datasetVersion"] == str(shifted["delta_version"])
    assert complete["inputs"][0]["name"] == "bronze/transactions"
    assert first["outcome"] == "published"

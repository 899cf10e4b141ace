"""The gate and what builds report: blocked batches explained and kept, warn-only expectations,
Delta CHECK constraints, drift against the last publish, OpenLineage events (file transport)."""

from __future__ import annotations

import io
import json
import uuid
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


def test_drift_against_the_last_publish_is_measured_and_a_breach_announced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lineage = _lineage_file(monkeypatch, tmp_path)
    objects = demo_objects()
    txn_keys = sorted(k for k in objects if k.startswith("transactions/"))
    upload(settings, {k: v for k, v in objects.items() if k not in txn_keys[3:]})
    ingest()
    first = build_features("customer_txn", 1)
    upload(settings, {k: _amounts_times(objects[k], k, 40) for k in txn_keys[3:]})  # a currency bug upstream
    ingest()

    second = build_features("customer_txn", 1)

    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(str(second["mlflow_run_id"]))
    assert run.data.metrics["drift_psi.amount_sum_24h"] > 0.25
    assert run.data.metrics["drift_breached_features"] >= 1
    resource = feature_set_resource_id(CUSTOMER_TXN)
    discriminator = at(DeltaStore(settings).uri(CUSTOMER_TXN.table_path), second["delta_version"])
    (event,) = wait_for_events(by_id(event_id(FEATURE_SET_DRIFTED, resource, discriminator)))
    assert event.payload["reference_delta_version"] == first["delta_version"]
    assert "amount_sum_24h" in {f["feature"] for f in event.payload["features"] if f["breached"]}
    assert "**drifted**" in _artifact("drift-customer-txn")
    events = _build_events(lineage)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "START", "COMPLETE"]
    complete = events[-1]
    assert uuid.UUID(complete["run"]["runId"])
    (output,) = complete["outputs"]
    assert output["namespace"] == f"s3://{settings.lake_bucket}"
    assert output["name"] == CUSTOMER_TXN.table_path
    assert output["facets"]["version"]["datasetVersion"] == str(second["delta_version"])
    assert complete["inputs"][0]["name"] == "bronze/transactions"


def _amounts_times(body: bytes, key: str, factor: float) -> bytes:
    if key.endswith(".parquet"):
        frame = pl.read_parquet(io.BytesIO(body)).with_columns(pl.col("amount") * factor)
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return buffer.getvalue()
    frame = pl.read_csv(io.BytesIO(body), infer_schema=False)
    scaled = (pl.col("amount").cast(pl.Float64, strict=False) * factor).cast(pl.String)
    return frame.with_columns(pl.coalesce(scaled, pl.col("amount")).alias("amount")).write_csv().encode()

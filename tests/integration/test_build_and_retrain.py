"""Build → validate → publish → retrain against real S3, Delta, Great Expectations and MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from featurelake.core import events
from featurelake.core.fingerprint import fingerprint
from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings, get_settings
from featurelake.validate.gate import ValidationFailedError
from features.customer_txn import CUSTOMER_TXN
from features.models import FRAUD_MODEL
from flows.build_features import build_features
from flows.ingest import ingest
from flows.retrain import retrain
from tests.catalogs.strict import STRICT
from tests.integration.helpers import DATA, by_id, demo_objects, upload, wait_for_events


def _split_by_day(objects: dict[str, bytes], days: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    early = {k: v for k, v in objects.items() if not k.startswith("transactions/")}
    txn_keys = sorted(k for k in objects if k.startswith("transactions/"))
    early |= {k: objects[k] for k in txn_keys[:days]}
    return early, {k: objects[k] for k in txn_keys[days:]}


def test_build_publishes_validated_features_with_lineage_and_is_idempotent(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest()

    summary = build_features("customer_txn", 1)

    store = DeltaStore(settings)
    table = store.read(CUSTOMER_TXN.table_path)
    expected_rows = DATA.transactions.select("customer_id", "event_time").unique().height
    published = summary["delta_version"]
    assert published == store.version(CUSTOMER_TXN.table_path)  # the publish is the latest commit
    assert table.height == expected_rows == summary["row_count"]
    assert summary["validation"] == "passed"
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(str(summary["mlflow_run_id"]))
    assert run.data.params["bronze_version"] == str(summary["bronze_version"])
    assert run.data.tags["featurelake.delta_version"] == str(published)
    assert "day=2026-11-01/part-0.parquet" in run.data.params["source_objects"]
    sources = json.loads(mlflow.artifacts.load_text(run.info.artifact_uri + "/lineage/sources.json"))
    assert sources["bronze_version"] == summary["bronze_version"]
    raw = {
        o["Key"]: o["ETag"].strip('"')
        for o in s3_client(settings).list_objects_v2(Bucket=settings.raw_bucket, Prefix="transactions/")["Contents"]
    }
    assert {o["_source_key"]: o["_source_etag"] for o in sources["raw_objects"]}.items() <= raw.items()
    assert run.data.tags["featurelake.flow_run_url"].startswith("http")
    assert run.data.tags["featurelake.code_revision"]
    assert {i.dataset.name for i in run.inputs.dataset_inputs} >= {
        f"{sources['bronze_table']}@{sources['bronze_version']}"
    }
    gx_result = json.loads(mlflow.artifacts.load_text(run.info.artifact_uri + "/validation/gx_result.json"))
    assert gx_result["success"] is True
    assert gx_result["statistics"]["evaluated_expectations"] >= 30

    again = build_features("customer_txn", 1)
    assert again["delta_version"] == published
    assert again["mlflow_run_id"] == summary["mlflow_run_id"]
    assert again["row_count"] == summary["row_count"]
    assert again["suite_hash"] == summary["suite_hash"]
    assert store.version(CUSTOMER_TXN.table_path) == published
    builds = mlflow.MlflowClient(settings.mlflow_tracking_uri).search_runs(
        [run.info.experiment_id], "tags.`featurelake.feature_set` = 'customer_txn:v1'"
    )
    assert len(builds) == 1  # the retry announced the existing publish; it did not rebuild


def test_a_failing_batch_is_not_published(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_FEATURES_MODULE", "tests.catalogs.strict")
    get_settings.cache_clear()
    upload(settings, demo_objects())
    ingest()

    with pytest.raises(ValidationFailedError, match=r"expect_column_values_to_be_between\(column=amount_max_1h"):
        build_features("customer_txn_strict", 1)

    assert DeltaStore(settings).version(STRICT.table_path) is None


def test_retrain_uses_the_pinned_delta_version_and_registers_lineage(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lineage = tmp_path / "openlineage.ndjson"
    monkeypatch.setenv("FEATURELAKE_OPENLINEAGE_FILE", str(lineage))
    get_settings.cache_clear()
    early, late = _split_by_day(demo_objects(), days=4)
    upload(settings, early)
    ingest()
    first = build_features("customer_txn", 1)
    upload(settings, late)
    ingest()
    second = build_features("customer_txn", 1)
    old = first["delta_version"]
    assert second["delta_version"] == old + 1  # the first publish is preceded by the table's create and constraints

    result = retrain("customer_txn", 1, delta_version=old)

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    version = client.get_model_version(FRAUD_MODEL.name, str(result["model_version"]))
    assert version.tags["featurelake.delta_version"] == str(old)
    assert version.tags["featurelake.feature_set"] == "customer_txn:v1"
    assert version.tags["featurelake.label"] == "fraud_labels.is_fraud"  # from the model spec
    run = client.get_run(version.run_id)
    assert run.data.params["features"] == "customer_txn:v1"
    assert run.data.params["trainer"] == "featurelake.train.trainers:default_estimator"
    manifest = json.loads(mlflow.artifacts.load_text(run.info.artifact_uri + "/training_set/manifest.json"))
    assert manifest["labels"]["source"] == "fraud_labels"
    assert manifest["feature_sets"][0]["delta_version"] == old
    assert manifest["spine"]["rows"] == DATA.labels.height
    assert (
        version.tags["featurelake.fingerprint"]
        == manifest["feature_sets"][0]["fingerprint"]
        == fingerprint(CUSTOMER_TXN)
    )
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {DeltaStore(settings).uri(CUSTOMER_TXN.table_path)}
    assert 0.5 < run.data.metrics["holdout_roc_auc"] <= 1.0
    retrain_events = [
        e for e in map(json.loads, lineage.read_text().splitlines()) if e["job"]["name"].startswith("retrain.")
    ]
    assert [e["eventType"] for e in retrain_events] == ["START", "COMPLETE"]
    inputs = {(i["name"], i["facets"]["version"]["datasetVersion"]) for i in retrain_events[-1]["inputs"]}
    assert (CUSTOMER_TXN.table_path, str(old)) in inputs
    assert retrain_events[-1]["outputs"][0]["name"] == f"models/{FRAUD_MODEL.name}"
    assert retrain_events[-1]["outputs"][0]["facets"]["version"]["datasetVersion"] == str(result["model_version"])


def test_the_champion_alias_moves_only_to_a_model_that_beats_it_on_the_same_holdout(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest()
    published = build_features("customer_txn", 1)["delta_version"]
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    name = FRAUD_MODEL.name

    weak = retrain("customer_txn", 1, delta_version=published, trainer="tests.trainers:constant")
    assert weak["promoted"] is True  # the first model has nobody to beat
    assert str(client.get_model_version_by_alias(name, "champion").version) == weak["model_version"]

    strong = retrain("customer_txn", 1, delta_version=published)
    assert strong["promoted"] is True
    assert str(client.get_model_version_by_alias(name, "champion").version) == strong["model_version"]
    tags = client.get_model_version(name, str(strong["model_version"])).tags
    assert tags["featurelake.previous_champion"] == weak["model_version"]
    assert tags["featurelake.promotion_compared_on"] == "same holdout"
    assert "beats champion v1 at 0.5000" in tags["featurelake.promotion_reason"]

    again = retrain("customer_txn", 1, delta_version=published, trainer="tests.trainers:constant")
    assert again["promoted"] is False
    assert str(client.get_model_version_by_alias(name, "champion").version) == strong["model_version"]
    assert (
        client.get_model_version(name, str(again["model_version"])).tags["featurelake.train.promotion"]
        == "kept champion"
    )

    resource = f"featurelake.model.{name}"
    for summary, was_promoted in ((strong, True), (again, False)):
        run_id = str(summary["mlflow_run_id"])
        (trained,) = wait_for_events(by_id(events.event_id(events.MODEL_TRAINED, resource, run_id)))
        assert trained.payload["promoted"] is was_promoted
        found = wait_for_events(
            by_id(events.event_id(events.MODEL_PROMOTED, resource, run_id)), timeout=3 * was_promoted
        )
        assert len(found) == was_promoted
    (promotion,) = wait_for_events(
        by_id(events.event_id(events.MODEL_PROMOTED, resource, str(strong["mlflow_run_id"])))
    )
    assert promotion.payload == {
        "model_name": name,
        "model_version": strong["model_version"],
        "previous_version": weak["model_version"],
        "metric": "holdout_roc_auc",
        "score": strong["holdout_roc_auc"],
        "previous_score": 0.5,
        "compared_on": "same holdout",
        "feature_set": "customer_txn",
        "feature_set_version": 1,
        "delta_version": published,
    }

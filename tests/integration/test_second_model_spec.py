"""Retrain is generic: a second model spec, unlike the fraud one, trains and registers from its spec alone.

The spec (``tests.catalogs.disputes``) has its own label source, label column and spine time,
reads a few merchant features instead of the customer feature set, and names its own trainer and
promotion rule. Nothing in the flow knows it: only the features package changes.
"""

from __future__ import annotations

import io
import json

import mlflow
import polars as pl
import pytest

from featurelake.core import events
from featurelake.core.modelspec import model_resource_id
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry
from featurelake.settings import Settings, get_settings
from flows.build_features import build_features
from flows.ingest import ingest
from flows.retrain import retrain
from tests.catalogs.disputes import DISPUTE_MODEL, MERCHANT_TXN
from tests.integration.helpers import DATA, by_id, demo_objects, upload, wait_for_events


def _disputes() -> bytes:
    """The demo's labels as merchant disputes: another source, key, time column and label name."""
    frame = DATA.labels.select(
        pl.col("txn_id").str.replace("^t", "d").alias("dispute_id"),
        "merchant_id",
        pl.col("event_time").alias("opened_at"),
        pl.col("is_fraud").alias("escalated"),
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@pytest.fixture
def disputes_lake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The disputes catalog selected, its raw data landed in bronze and ``merchant_txn:v1`` published."""
    monkeypatch.setenv("FEATURELAKE_FEATURES_MODULE", "tests.catalogs.disputes")
    get_settings.cache_clear()
    transactions = {k: v for k, v in demo_objects().items() if k.startswith("transactions/")}
    upload(settings, transactions | {"merchant_disputes/batch-0001.parquet": _disputes()})
    ingest()
    return settings


def test_a_second_model_spec_trains_on_its_own_labels_features_trainer_and_rule(disputes_lake: Settings) -> None:
    settings = disputes_lake
    published = int(str(build_features("merchant_txn", 1)["delta_version"]))

    first = retrain("merchant_txn", 1, delta_version=published, model=DISPUTE_MODEL.name)

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    assert first["model"] == "featurelake-disputes"
    assert first["feature_set"] == "merchant_txn:v1"
    assert first["promoted"] is True  # nobody to beat yet
    assert [m.name for m in client.search_registered_models()] == ["featurelake-disputes"]  # not the fraud model
    version = client.get_model_version(DISPUTE_MODEL.name, str(first["model_version"]))
    assert version.tags["featurelake.feature_set"] == "merchant_txn:v1"
    assert version.tags["featurelake.delta_version"] == str(published)
    assert version.tags["featurelake.feature_sets"] == f"merchant_txn:v1@{published}"
    assert version.tags["featurelake.feature_table"] == DeltaStore(settings).uri(MERCHANT_TXN.table_path)
    assert version.tags["featurelake.label"] == "merchant_disputes.escalated"
    run = client.get_run(version.run_id)
    assert run.data.params["label"] == "escalated"
    assert run.data.params["labels_source"] == "merchant_disputes"
    assert run.data.params["trainer"] == "tests.trainers:logistic"
    assert run.data.params["model_class"] == "sklearn.pipeline.Pipeline"
    assert run.data.params["promotion_metric"] == "holdout_average_precision"
    manifest = json.loads(mlflow.artifacts.load_text(run.info.artifact_uri + "/training_set/manifest.json"))
    assert manifest["spine"]["rows"] == DATA.labels.height
    assert manifest["spine"]["time_column"] == "opened_at"
    assert manifest["labels"]["source"] == "merchant_disputes"
    assert manifest["labels"]["column"] == "escalated"
    assert [e["ref"] for e in manifest["feature_sets"]] == ["merchant_txn:v1"]
    assert manifest["feature_sets"][0]["delta_version"] == published
    champion = registry.champion(settings, DISPUTE_MODEL.name)
    assert champion is not None
    assert champion.input_columns == ["merchant_txn_count_1h", "merchant_amount_sum_24h", "merchant_amount_max_7d"]

    again = retrain("merchant_txn", 1, delta_version=published, model=DISPUTE_MODEL.name)

    assert again["promoted"] is False  # the same model on the same holdout gains 0, and the spec asks for 0.01
    assert "holdout_average_precision" in str(again["promotion"])
    assert "(same holdout; needs a gain over 0.01)" in str(again["promotion"])
    assert str(client.get_model_version_by_alias(DISPUTE_MODEL.name, "champion").version) == first["model_version"]
    resource = model_resource_id(DISPUTE_MODEL.name)
    (trained,) = wait_for_events(by_id(events.event_id(events.MODEL_TRAINED, resource, str(again["mlflow_run_id"]))))
    assert trained.payload["model_name"] == "featurelake-disputes"
    assert (trained.payload["feature_set"], trained.payload["delta_version"]) == ("merchant_txn", published)

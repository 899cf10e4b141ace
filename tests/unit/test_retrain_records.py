"""What a retrain records for a model spec: tags, params, manifest, summary and event payloads (no servers)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from featurelake.core import commits, model_tags
from featurelake.core.catalog import discover
from featurelake.io.mlflow.runs import RegisteredModel
from featurelake.retrieve.featurestore import TrainingSet
from featurelake.train import records
from featurelake.train.plan import Publish, RetrainPlan, plan_retrain
from featurelake.train.promotion import PromotionDecision
from featurelake.train.trainers import TrainedModel
from tests.catalogs.disputes import DISPUTE_MODEL
from tests.trainers import constant

REGISTERED = RegisteredModel(run_id="r1", name="featurelake-disputes", version="3")
TRAINED = TrainedModel(
    model=constant,
    metrics={"holdout_average_precision": 0.4},
    holdout_start=dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
    train_rows=80,
    test_rows=20,
    feature_columns=["merchant_txn_count_1h"],
    holdout_features=None,
    holdout_labels=None,
)
WON = PromotionDecision(True, "beats", "holdout_average_precision", 0.4, 0.3, "2", "same holdout")
KEPT = dataclasses.replace(WON, promote=False, reason="does not beat")
TABLE = "s3://lake/features/merchant_txn/v1"
TRAINING = TrainingSet(
    frame=pl.DataFrame({"merchant_id": ["m1"], "opened_at": [1], "escalated": [True], "merchant_txn_count_1h": [2]}),
    feature_columns=["merchant_txn_count_1h"],
    manifest={
        "spine": {"rows": 1, "time_column": "opened_at"},
        "feature_sets": [
            {
                "ref": "merchant_txn:v1",
                "table_uri": TABLE,
                "delta_version": 12,
                "fingerprint": "f",
                "columns": {"merchant_txn_count_1h": "merchant_txn_count_1h"},
            }
        ],
    },
)


def _plan() -> RetrainPlan:
    return plan_retrain(discover("tests.catalogs.disputes"), DISPUTE_MODEL.name, Publish("merchant_txn", 1, 12))


def test_tags_name_the_pinned_versions_and_the_labels_of_the_spec() -> None:
    tags = records.tags(_plan(), records.RunContext("run-1", "http://ui/run-1", "abc"), TRAINING.manifest, 5)
    assert tags[commits.FEATURE_SET] == "merchant_txn:v1"
    assert tags[commits.DELTA_VERSION] == "12"
    assert tags[commits.FLOW_RUN_ID] == "run-1"
    assert tags[model_tags.FEATURE_TABLE] == TABLE
    assert tags[model_tags.FEATURE_SETS] == "merchant_txn:v1@12"
    assert tags[model_tags.LABELS_VERSION] == "5"
    assert tags[model_tags.LABEL] == "merchant_disputes.escalated"


def test_params_and_manifest_record_the_spec_as_the_run_applied_it() -> None:
    params = records.params(_plan(), TRAINED)
    assert params["features"] == ",".join(DISPUTE_MODEL.features)
    assert (params["label"], params["labels_source"], params["spine_time"]) == (
        "escalated",
        "merchant_disputes",
        "opened_at",
    )
    assert (params["trainer"], params["promotion_metric"], params["min_improvement"]) == (
        "tests.trainers:logistic",
        "holdout_average_precision",
        0.01,
    )
    assert params["model_class"] == "sklearn.dummy.DummyClassifier"
    manifest = records.manifest(_plan(), TRAINING, "s3://lake/bronze/merchant_disputes", 5)
    assert manifest["labels"] == {
        "source": "merchant_disputes",
        "column": "escalated",
        "table_uri": "s3://lake/bronze/merchant_disputes",
        "delta_version": 5,
    }
    assert manifest["feature_sets"] == TRAINING.manifest["feature_sets"]
    assert records.input_samples(TRAINING)[0][0] == TABLE
    assert records.example_rows(TRAINING).dtypes == [pl.Float64]


def test_the_summary_keeps_the_flows_return_keys() -> None:
    summary = records.summary(_plan(), REGISTERED, TRAINED, WON)
    assert summary == {
        "model": "featurelake-disputes",
        "model_version": "3",
        "mlflow_run_id": "r1",
        "feature_set": "merchant_txn:v1",
        "delta_version": 12,
        "promoted": True,
        "promotion": "beats",
        "holdout_average_precision": 0.4,
    }


def test_events_name_the_model_and_the_publish_and_promotion_only_when_the_alias_moved() -> None:
    plan = _plan()
    won = records.RetrainOutcome(REGISTERED, TRAINED, WON, {})
    trained = records.trained_event(won, plan)
    assert (trained.model_name, trained.feature_set, trained.feature_set_version, trained.delta_version) == (
        "featurelake-disputes",
        "merchant_txn",
        1,
        12,
    )
    promoted = records.promoted_event(won, plan)
    assert promoted is not None
    assert (promoted.previous_version, promoted.metric, promoted.previous_score) == (
        "2",
        "holdout_average_precision",
        0.3,
    )
    assert records.promoted_event(dataclasses.replace(won, decision=KEPT), plan) is None
    assert records.lineage_markdown(REGISTERED, "tree").startswith("# Lineage of featurelake-disputes version 3\n")

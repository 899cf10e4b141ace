"""Model specs: validated as they are declared, discovered beside the feature sets, resolved into a retrain plan."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from featurelake.core import catalog
from featurelake.core.modelspec import ModelSpec, reference_problems
from featurelake.train.plan import Publish, plan_retrain
from features.models import FRAUD_MODEL
from features.sources import FRAUD_LABELS
from tests.catalogs.disputes import DISPUTE_MODEL


def _spec(**changes: Any) -> ModelSpec:
    values: dict[str, Any] = {
        "name": "m",
        "labels": FRAUD_LABELS,
        "label": "is_fraud",
        "features": ("customer_txn:v1",),
        "description": "d",
        "owner": "o",
    }
    return ModelSpec(**(values | changes))


def test_the_example_declares_the_fraud_model_as_retrain_trained_it_before() -> None:
    found = catalog.discover("features")
    assert found.get_model("featurelake-fraud") is FRAUD_MODEL
    assert (FRAUD_MODEL.labels.name, FRAUD_MODEL.label, FRAUD_MODEL.spine_time) == (
        "fraud_labels",
        "is_fraud",
        "event_time",
    )
    assert FRAUD_MODEL.features == ("customer_txn:v1",)
    assert (FRAUD_MODEL.trainer, FRAUD_MODEL.promotion_metric, FRAUD_MODEL.min_improvement) == (
        None,
        "holdout_roc_auc",
        0.0,
    )
    assert found.models_reading("customer_txn:v1") == [FRAUD_MODEL]
    assert found.models_reading("merchant_txn:v1") == []


def test_an_unknown_model_names_the_declared_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown model 'fraud'; the features package declares \['featurelake-fraud'\]"):
        catalog.discover("features").get_model("fraud")


def test_a_second_catalog_declares_its_own_model_and_its_label_source() -> None:
    found = catalog.discover("tests.catalogs.disputes")
    assert list(found.models) == ["featurelake-disputes"]
    assert "merchant_disputes" in found.sources  # ingest lands the labels a model reads
    assert found.model_defined_in["featurelake-disputes"] == "tests.catalogs.disputes"
    assert DISPUTE_MODEL.feature_sets == ("merchant_txn:v1",)  # three columns of one set
    assert DISPUTE_MODEL.uses("merchant_txn:v1")
    assert not DISPUTE_MODEL.uses("customer_txn:v1")


def test_the_spine_time_defaults_to_the_label_sources_event_time_and_lists_become_tuples() -> None:
    spec = _spec(features=["customer_txn:v1", "merchant_txn:v1:merchant_txn_count_1h"])
    assert spec.spine_time == "event_time"
    assert spec.features == ("customer_txn:v1", "merchant_txn:v1:merchant_txn_count_1h")
    assert spec.feature_sets == ("customer_txn:v1", "merchant_txn:v1")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "fraud model"}, "name must be letters, digits"),
        ({"label": "fraud"}, "label column 'fraud' is not a column of label source 'fraud_labels'"),
        ({"label": "txn_id"}, "label column 'txn_id' is String; a classifier needs Boolean"),
        ({"spine_time": "labelled"}, "spine time 'labelled' is not a column"),
        ({"spine_time": "customer_id"}, "spine time 'customer_id' is String, not a timestamp"),
        ({"features": ()}, "features is empty"),
        ({"features": "customer_txn:v1"}, "features must be a list of references, not the string"),
        ({"features": ("customer_txn",)}, "bad feature reference 'customer_txn'"),
        ({"features": ("customer_txn:v1", "customer_txn:v1")}, r"\['customer_txn:v1'\] are listed more than once"),
        ({"trainer": "tests.trainers"}, "is not an import path"),
        ({"promotion_metric": "accuracy"}, r"'accuracy' cannot rank models; use one of \['holdout_average_precision'"),
        ({"min_improvement": -0.1}, "min_improvement must be a number >= 0"),
        ({"min_improvement": float("nan")}, "min_improvement must be a number >= 0"),
    ],
)
def test_a_spec_that_cannot_be_trained_is_refused_where_it_is_declared(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _spec(**changes)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ValueError, match=r"model spec 'm' is invalid: label column 'x' .*; features is empty"):
        _spec(label="x", features=())


def test_integer_labels_are_accepted() -> None:
    labels = dataclasses.replace(FRAUD_LABELS, columns=FRAUD_LABELS.columns | {"is_fraud": pl.Int8()})
    assert _spec(labels=labels).label == "is_fraud"


def test_references_are_checked_against_the_feature_sets_and_the_labels_keys() -> None:
    feature_sets = catalog.discover("features").feature_sets
    assert reference_problems(FRAUD_MODEL, feature_sets) == []
    problems = reference_problems(
        _spec(features=("customer_txn:v9", "customer_txn:v1:nope", "customer_txn:v1:amount_sum_24h")), feature_sets
    )
    assert problems[0].startswith("feature reference 'customer_txn:v9' names an unknown feature set; known: [")
    assert problems[1].startswith("feature set customer_txn:v1 has no feature 'nope'; it has [")
    assert len(problems) == 2
    keyless = dataclasses.replace(
        FRAUD_LABELS, columns={k: v for k, v in FRAUD_LABELS.columns.items() if k != "merchant_id"}
    )
    (problem,) = reference_problems(_spec(labels=keyless, features=("merchant_txn:v1",)), feature_sets)
    assert (
        "merchant_txn:v1 is joined on ['merchant_id'] but label source 'fraud_labels' has no column(s) ['merchant_id']"
        in problem
    )


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, **modules: str) -> str:
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_discovery_refuses_a_model_reading_what_the_package_does_not_define(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(
        tmp_path,
        monkeypatch,
        "models_without_features",
        models="""
            from featurelake.core.modelspec import ModelSpec
            from features.sources import FRAUD_LABELS

            MODEL = ModelSpec("orphan", FRAUD_LABELS, "is_fraud", ("customer_txn:v1",), "d", "o")
        """,
    )
    with pytest.raises(ValueError, match=r"model 'orphan' \(models_without_features.models\): feature reference"):
        catalog.discover(package)


def test_discovery_refuses_two_models_under_one_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    twin = """
        from featurelake.core.modelspec import ModelSpec
        from features.customer_txn import CUSTOMER_TXN
        from features.sources import FRAUD_LABELS

        MODEL = ModelSpec("twin", FRAUD_LABELS, "is_fraud", ("customer_txn:v1",), "d", "o")
    """
    package = _package(tmp_path, monkeypatch, "twin_models", first=twin, second=twin)
    with pytest.raises(ValueError, match=r"model 'twin' is defined twice, in twin_models.first and twin_models.second"):
        catalog.discover(package)


def _both() -> catalog.Catalog:
    """The example's feature sets and model beside the disputes model."""
    found = catalog.discover("features")
    return dataclasses.replace(found, models=found.models | {DISPUTE_MODEL.name: DISPUTE_MODEL})


def test_a_retrain_plan_takes_the_specs_values_and_pins_the_publish() -> None:
    plan = plan_retrain(_both(), "featurelake-disputes", Publish("merchant_txn", 1, 12))
    assert plan.model is DISPUTE_MODEL
    assert plan.pins == {"merchant_txn:v1": 12}
    assert plan.labels_path == "bronze/merchant_disputes"
    assert (plan.policy.metric, plan.policy.greater_is_better, plan.policy.min_improvement) == (
        "holdout_average_precision",
        True,
        0.01,
    )


def test_a_runs_overrides_replace_the_specs_values_and_none_keeps_them() -> None:
    plan = plan_retrain(
        _both(), "featurelake-fraud", Publish("customer_txn", 1, 3), None, "tests.trainers:constant", "holdout_log_loss"
    )
    assert plan.model.features == FRAUD_MODEL.features
    assert plan_retrain(_both(), "featurelake-fraud", Publish("customer_txn", 1, 3), []).model is FRAUD_MODEL
    assert plan.model.trainer == "tests.trainers:constant"
    assert (plan.policy.metric, plan.policy.greater_is_better, plan.policy.min_improvement) == (
        "holdout_log_loss",
        False,
        0.0,
    )


@pytest.mark.parametrize(
    ("model", "publish", "overrides", "error", "message"),
    [
        ("fraud", Publish("customer_txn", 1, 3), {}, KeyError, "unknown model 'fraud'"),
        ("featurelake-fraud", Publish("customer_txn", 7, 3), {}, KeyError, "unknown feature set customer_txn:v7"),
        (
            "featurelake-disputes",
            Publish("customer_txn", 1, 3),
            {},
            ValueError,
            r"model 'featurelake-disputes' does not read customer_txn:v1 \(it reads \['merchant_txn:v1'\]\)",
        ),
        (
            "featurelake-fraud",
            Publish("customer_txn", 1, 3),
            {"features": ["merchant_txn:v1"]},
            ValueError,
            "does not read customer_txn:v1",
        ),
        ("featurelake-fraud", Publish("customer_txn", 1, 3), {"features": ["x:v2"]}, ValueError, "unknown feature set"),
        (
            "featurelake-fraud",
            Publish("customer_txn", 1, 3),
            {"trainer": "tests.nowhere:m"},
            ValueError,
            "cannot be imported",
        ),
        ("featurelake-fraud", Publish("customer_txn", 1, 3), {"min_improvement": -1.0}, ValueError, "min_improvement"),
    ],
)
def test_a_wrong_parameter_fails_the_plan_before_anything_is_read(
    model: str, publish: Publish, overrides: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        plan_retrain(_both(), model, publish, **overrides)

"""The gate decides the same whichever engine computes GX's metrics, and the engine is a setting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from featurelake.build.report import validation_report
from featurelake.settings import Settings
from featurelake.validate.gate import ValidationEngine, ValidationOutcome, build_suite, suite_hash, validate_batch
from features.customer_txn import CUSTOMER_TXN

USER_EXPECTATIONS: list[dict[str, Any]] = [
    {
        "type": "expect_column_max_to_be_between",
        "kwargs": {"column": "amount_max_1h", "max_value": 30},
        "severity": "warn",
    },
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount_count_24h", "min_value": 5}},
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "customer_id", "min_value": 2}},
]


def feature_batch(rows: int = 40) -> pl.DataFrame:
    """A customer_txn batch, sorted like compute_features' output, with a duplicate key, a null and a negative."""
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    columns: dict[str, Any] = {
        "customer_id": [f"c{i // 10}" for i in range(rows)],
        "event_time": [start + dt.timedelta(minutes=i % 10) for i in range(rows)],
    }
    for name, dtype in CUSTOMER_TXN.output_schema().items():
        if name not in columns:
            columns[name] = [i % 7 + 1 for i in range(rows)] if dtype == pl.Int64 else [float(i) for i in range(rows)]
    batch = pl.DataFrame(columns, schema=CUSTOMER_TXN.output_schema())
    broken = pl.int_range(pl.len())
    return batch.with_columns(
        pl.when(broken == 3)
        .then(pl.lit(dt.datetime(2026, 11, 1, 0, 2, tzinfo=dt.UTC)))
        .otherwise("event_time")
        .alias("event_time"),
        pl.when(broken == 5).then(None).otherwise("amount_sum_1h").alias("amount_sum_1h"),
        pl.when(broken == 7).then(-1.0).otherwise("amount_mean_7d").alias("amount_mean_7d"),
    )


def _verdict(outcome: ValidationOutcome) -> tuple[Any, ...]:
    return outcome.success, outcome.evaluated, outcome.failures, outcome.metrics(), outcome.suite_hash


def test_both_engines_reach_the_same_verdict_with_the_same_explanations() -> None:
    batch = feature_batch()
    fast = validate_batch(CUSTOMER_TXN, batch, batch.height, USER_EXPECTATIONS)
    truth = validate_batch(CUSTOMER_TXN, batch, batch.height, USER_EXPECTATIONS, engine="gx-pandas")
    assert _verdict(fast) == _verdict(truth)
    assert not fast.success  # the batch breaks blocking expectations
    assert fast.warnings  # and a warn-only one
    failed = " ".join(fast.failed)
    for broken in ("compound_columns", "amount_sum_1h", "amount_mean_7d", "amount_count_24h"):
        assert broken in failed


def test_the_result_records_which_engine_ran_each_expectation() -> None:
    batch = feature_batch()
    fast = validate_batch(CUSTOMER_TXN, batch, batch.height, USER_EXPECTATIONS).result
    engines = {r["expectation_config"]["type"]: r["meta"]["featurelake.engine"] for r in fast["results"]}
    assert engines.pop("expect_column_value_lengths_to_be_between") == "gx-pandas"
    assert set(engines.values()) == {"polars"}
    assert fast["meta"]["featurelake.engine"] == {"polars": len(fast["results"]) - 1, "gx-pandas": 1}
    truth = validate_batch(CUSTOMER_TXN, batch, batch.height, engine="gx-pandas").result
    assert {r["meta"]["featurelake.engine"] for r in truth["results"]} == {"gx-pandas"}


def test_the_suite_hash_names_the_content_not_the_random_ids_gx_assigns() -> None:
    first, again = (build_suite(CUSTOMER_TXN, 40, USER_EXPECTATIONS) for _ in range(2))
    assert suite_hash(first) == suite_hash(again)
    bumped = [{**USER_EXPECTATIONS[0], "kwargs": {"column": "amount_max_1h", "max_value": 60}}, *USER_EXPECTATIONS[1:]]
    assert suite_hash(build_suite(CUSTOMER_TXN, 40, bumped)) != suite_hash(first)


def test_an_unknown_engine_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"validation engine 'spark' is unknown; use one of polars, gx-pandas"):
        validate_batch(CUSTOMER_TXN, feature_batch(), 40, engine="spark")  # type: ignore[arg-type]


def test_the_engine_is_a_setting_defaulting_to_polars(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().validation_engine == "polars"
    monkeypatch.setenv("FEATURELAKE_VALIDATION_ENGINE", "gx-pandas")
    assert Settings().validation_engine == "gx-pandas"
    monkeypatch.setenv("FEATURELAKE_VALIDATION_ENGINE", "spark")
    with pytest.raises(ValidationError, match="validation_engine"):
        Settings()


@pytest.mark.parametrize("engine", ["polars", "gx-pandas"])
def test_a_missing_value_is_reported_as_null_or_nan_as_polars_holds_it(engine: ValidationEngine) -> None:
    missing = pl.int_range(pl.len())
    batch = feature_batch().with_columns(
        pl.when(missing == 2).then(float("nan")).otherwise("amount_sum_1h").alias("amount_sum_1h"),  # and a null at 5
        pl.when(missing == 4).then(None).otherwise("amount_count_7d").alias("amount_count_7d"),  # Int64: NaN in pandas
    )

    examples = {f.expectation: f.examples for f in validate_batch(CUSTOMER_TXN, batch, 40, engine=engine).failures}

    assert examples["expect_column_values_to_not_be_null(column=amount_sum_1h)"] == ("NaN", "null")
    assert examples["expect_column_values_to_not_be_null(column=amount_count_7d)"] == ("null",)
    assert "`null`" in validation_report(CUSTOMER_TXN, validate_batch(CUSTOMER_TXN, batch, 40), 1, published=False)

"""The polars engine equals GX's pandas engine, expectation by expectation: the proof GX stays the truth.

Every case runs one GX suite twice on the same polars batch: through GX alone (``batch.to_pandas()``
and GX's pandas engine) and through the fast path (GX's dependencies and verdicts, polars metrics).
For every expectation the two results must agree on success, on whether GX raised, and on the whole
SUMMARY ``result`` dict (element_count, unexpected_count and percents, missing_count, the partial
unexpected values and their counts and row numbers, observed_value), compared as the JSON GX logs.
Each case also asserts that polars, not the fallback, ran what it claims to cover, so an
equality cannot come from both sides having been computed by GX.

GX pandas semantics this pins down: NaN is missing like null (``isnull``), so between / in-set /
unique ignore it and not-null counts it; integers with nulls become float64; duplicates treat null
and NaN as equal; ``mostly`` divides by the non-missing rows; an empty batch is vacuously fine for
map expectations while aggregates observe NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurelake.validate.gx import (
    ENGINE_META,
    FALLBACK_META,
    ephemeral_context,
    validate_with_gx_pandas,
    validate_with_polars,
)
from featurelake.validate.metrics import MetricPlan

NAN, INF = math.nan, math.inf
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCHEMA = {"k": pl.Int64, "t": pl.Datetime("us", "UTC"), "x": pl.Float64, "i": pl.Int64, "s": pl.String}


def frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """A batch from (k, t offset in hours, x, i, s) tuples; x keeps NaN apart from null."""
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in SCHEMA]
    data = {name: list(values) for name, values in zip(SCHEMA, columns, strict=True)}
    data["t"] = [None if h is None else T0 + dt.timedelta(hours=h) for h in data["t"]]
    return pl.DataFrame(data, schema=SCHEMA, nan_to_null=False)


def compare(batch: pl.DataFrame, expectations: list[Any], polars_runs: Callable[[Any], bool]) -> None:
    """Run the suite through both engines; every result must match, and polars must run its share."""
    context = ephemeral_context()
    suite = context.suites.add(gx.ExpectationSuite(name="equivalence"))
    for expectation in expectations:
        suite.add_expectation(expectation)
    truth = _by_id(validate_with_gx_pandas(context, suite, batch, "gx"))
    fast = _by_id(validate_with_polars(context, suite, batch, "fast"))
    assert truth.keys() == fast.keys()
    for key, expected in truth.items():
        actual, config = fast[key], expected["expectation_config"]
        label = f"{config['type']}({_kwargs(config)}) on {batch.height} rows"
        assert actual["success"] == expected["success"], label
        assert _raised(actual) == _raised(expected), f"{label}: {actual['exception_info']}"
        assert actual["result"] == expected["result"], label
        assert _kwargs(actual["expectation_config"]) == _kwargs(config), label
        engine = actual["meta"][ENGINE_META]
        assert engine == ("polars" if polars_runs(config) else "gx-pandas"), f"{label}: {actual['meta']}"


def _by_id(result: Any) -> dict[str, dict[str, Any]]:
    return {r["expectation_config"]["id"]: r for r in result.to_json_dict()["results"]}


def _kwargs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config["kwargs"].items() if k != "batch_id"}


def _raised(result: dict[str, Any]) -> bool:
    return bool(result["exception_info"].get("raised_exception"))


def _everything_but_regex(config: dict[str, Any]) -> bool:
    """Polars runs all of the catalogue but the regex, and GX reports the missing column's between itself."""
    if config["type"] == "expect_column_values_to_match_regex":
        return False
    return config["type"] == "expect_column_to_exist" or _kwargs(config).get("column") != "nope"


def catalogue() -> list[Any]:
    """Every expectation type the polars engine covers, with the kwargs that change its meaning."""
    between = [
        {"min_value": 0, "max_value": 2},
        {"min_value": 0, "max_value": 2, "strict_min": True},
        {"min_value": 0, "max_value": 2, "strict_max": True},
        {"min_value": 0, "max_value": 2, "strict_min": True, "strict_max": True, "mostly": 0.5},
        {"min_value": 0.5},
        {"max_value": 1, "mostly": 0.8},
        {"min_value": -INF, "max_value": INF},
    ]
    aggregates = [
        gxe.ExpectColumnMeanToBeBetween,
        gxe.ExpectColumnMedianToBeBetween,
        gxe.ExpectColumnStdevToBeBetween,
        gxe.ExpectColumnSumToBeBetween,
        gxe.ExpectColumnMinToBeBetween,
        gxe.ExpectColumnMaxToBeBetween,
    ]
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=5),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["k", "t"]),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["k", "x"], ignore_row_if="any_value_is_missing"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["i", "s"], ignore_row_if="never"),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in SCHEMA),
        gxe.ExpectColumnValuesToNotBeNull(column="x", mostly=0.5),
        gxe.ExpectColumnToExist(column="x"),
        gxe.ExpectColumnToExist(column="nope"),
        *(gxe.ExpectColumnValuesToBeBetween(column=c, **kw) for c in ("x", "i") for kw in between),
        *(agg(column=c, min_value=0, max_value=2) for agg in aggregates for c in ("x", "i")),
        gxe.ExpectColumnMeanToBeBetween(column="x", min_value=0.5, strict_min=True),
        gxe.ExpectColumnValuesToBeInSet(column="i", value_set=[1, 2]),
        gxe.ExpectColumnValuesToBeInSet(column="x", value_set=[0.0, 2]),
        gxe.ExpectColumnValuesToBeInSet(column="s", value_set=["a", "b"], mostly=0.6),
        gxe.ExpectColumnValuesToBeInSet(column="s", value_set=[]),
        *(gxe.ExpectColumnValuesToBeUnique(column=c) for c in ("k", "x", "i", "s", "t")),
        *(gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column=c, min_value=0.5) for c in ("k", "x", "s")),
        gxe.ExpectColumnValuesToBeBetween(column="nope", min_value=0),
        gxe.ExpectColumnValuesToMatchRegex(column="s", regex="^a"),
    ]


CASES = {
    "nulls, NaN, ±inf, ties and duplicate keys": [
        (1, 0, 0.5, 1, "a"),
        (1, 0, NAN, 1, "b"),
        (2, 1, None, None, None),
        (3, 2, 3.0, 3, "a"),
        (None, 3, INF, 2, "c"),
        (3, 3, -INF, 3, "a"),
        (3, 3, 2.0, 2, "a"),
    ],
    "empty batch": [],
    "one row": [(1, 0, 1.0, 1, "a")],
    "a column entirely missing": [(1, 0, None, None, None), (2, 0, NAN, None, None), (3, 0, None, None, None)],
    "values on the bounds (strictness decides)": [(1, 0, 0.0, 0, "a"), (2, 0, 2.0, 2, "b"), (3, 0, 1.0, 1, "c")],
    "signed zeros and NaN among duplicates": [
        (1, 0, 0.0, 1, "a"),
        (1, 1, -0.0, 1, "a"),
        (2, 0, NAN, 2, "b"),
        (2, 1, None, 2, "b"),
        (2, 1, NAN, None, None),
    ],
    "sorted keys with neighbouring duplicates": [(k, h, 1.0, 1, "a") for k in (1, 2) for h in (0, 1, 1, 2)],
    "unsorted keys with distant duplicates": [(k, h, 1.0, 1, "a") for h in (0, 1) for k in (2, 1, 2)],
    "unsorted keys, no duplicates": [(k, h, 1.0, 1, "a") for h in (1, 0) for k in (3, 1, 2)],
    "duplicate keys with a null key": [(None, 0, 1.0, 1, "a"), (None, 0, 1.0, 1, "a"), (1, None, 1.0, 1, "a")],
}


@pytest.mark.parametrize("rows", CASES.values(), ids=CASES.keys())
def test_the_polars_engine_equals_gx_pandas_on_edge_cases(rows: list[tuple[Any, ...]]) -> None:
    compare(frame(rows), catalogue(), _everything_but_regex)


def test_integers_stay_integers_without_nulls_and_large_sums_match_pandas_bit_for_bit() -> None:
    batch = pl.DataFrame({"n": [2**62, 2**62, 3], "f": [0.1, 0.2, 0.3]})
    expectations = [
        gxe.ExpectColumnSumToBeBetween(column="f", min_value=0.6, max_value=0.6),  # 0.1+0.2+0.3 != 0.6 in floats
        gxe.ExpectColumnMeanToBeBetween(column="f", max_value=0.2),
        gxe.ExpectColumnStdevToBeBetween(column="f", max_value=0.1),
        gxe.ExpectColumnMaxToBeBetween(column="n", max_value=2**62),
        gxe.ExpectColumnValuesToBeInSet(column="n", value_set=[2**62]),
        gxe.ExpectColumnValuesToBeUnique(column="n"),
    ]
    compare(batch, expectations, lambda config: True)


VALUES = {
    "x": st.sampled_from([None, NAN, INF, -INF, -1.0, 0.0, -0.0, 0.5, 1.0, 2.0, 3.0]),
    "i": st.sampled_from([None, 0, 1, 2, 3]),
    "s": st.sampled_from([None, "a", "b", "c"]),
}
BOUNDS = st.sampled_from([None, -1, 0, 0.5, 1, 2, 3])


@st.composite
def batches(draw: st.DrawFn) -> pl.DataFrame:
    """Small batches over small domains, so ties, duplicates and boundary values are the rule."""
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from([1, 2, 3]),
                st.sampled_from([0, 1, 2]),
                VALUES["x"],
                VALUES["i"],
                VALUES["s"],
            ),
            max_size=12,
        )
    )
    batch = frame(rows)
    return batch.sort("k", "t") if draw(st.booleans()) else batch


@st.composite
def expectations(draw: st.DrawFn) -> list[Any]:
    """A suite of random bounds, strictness, mostly and value sets over every covered type."""
    suite: list[Any] = [gxe.ExpectCompoundColumnsToBeUnique(column_list=["k", "t"])]
    for column in ("x", "i"):
        low, high = sorted([draw(BOUNDS), draw(BOUNDS)], key=lambda b: -INF if b is None else b)
        if low is None and high is None:
            high = 1
        strict = {"strict_min": draw(st.booleans()), "strict_max": draw(st.booleans())}
        mostly = draw(st.sampled_from([1.0, 0.8, 0.5]))
        suite.append(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, mostly=mostly, **strict)
        )
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly))
        for aggregate in (
            gxe.ExpectColumnMeanToBeBetween,
            gxe.ExpectColumnMedianToBeBetween,
            gxe.ExpectColumnSumToBeBetween,
        ):
            suite.append(aggregate(column=column, min_value=low, max_value=high, **strict))
        members = draw(st.lists(st.sampled_from([0, 1, 2, 0.5, -0.0]), max_size=3, unique=True))
        suite.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=members, mostly=mostly))
    letters = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True))
    suite.append(gxe.ExpectColumnValuesToBeInSet(column="s", value_set=letters))
    suite += [gxe.ExpectColumnValuesToBeUnique(column=c) for c in ("x", "i", "s")]
    suite.append(gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column="x", min_value=draw(BOUNDS) or 0))
    return suite


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches(), suite=expectations())
def test_the_polars_engine_equals_gx_pandas_on_random_batches(batch: pl.DataFrame, suite: list[Any]) -> None:
    compare(batch, suite, lambda config: True)


def test_what_polars_cannot_compute_runs_on_gx_pandas_and_says_why() -> None:
    context = ephemeral_context()
    suite = context.suites.add(gx.ExpectationSuite(name="fallback"))
    suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column="s", regex="^a"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="s"))
    result = validate_with_polars(context, suite, frame([(1, 0, 1.0, 1, "a"), (2, 0, 1.0, 1, "b")]), "fast")
    regex, not_null = sorted(result.results, key=lambda r: r.expectation_config.type)
    assert regex.meta[ENGINE_META] == "gx-pandas"
    assert "match_regex" in regex.meta[FALLBACK_META]
    assert regex.result["unexpected_count"] == 1
    assert not_null.meta[ENGINE_META] == "polars"
    assert result.meta[ENGINE_META] == {"polars": 1, "gx-pandas": 1}


def test_a_failing_polars_pass_hands_everything_to_gx_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: MetricPlan) -> None:
        raise RuntimeError("simulated engine bug")

    monkeypatch.setattr(MetricPlan, "compute", broken)
    compare(frame(CASES["nulls, NaN, ±inf, ties and duplicate keys"]), catalogue(), lambda config: False)
    context = ephemeral_context()
    suite = context.suites.add(gx.ExpectationSuite(name="broken"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="k"))
    (result,) = validate_with_polars(context, suite, frame([(1, 0, 1.0, 1, "a")]), "fast").results
    assert "simulated engine bug" in result.meta[FALLBACK_META]

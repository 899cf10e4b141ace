"""How a GX suite runs on a polars batch: GX's pandas engine, or polars metrics judged by GX.

Part of the validation gate (:mod:`featurelake.validate.gate` is its public face); with it, the only
modules that import great_expectations. The fast path keeps GX in charge of everything but the
arithmetic: GX builds the suite, says which metrics each expectation needs
(``get_validation_dependencies`` against a pandas engine, so the same metrics pandas would
compute), and judges them (``metrics_validate``: success, ``mostly``, strict bounds, the SUMMARY
result fields). :mod:`featurelake.validate.metrics` computes the metrics on the polars batch in
one multi-threaded pass instead of converting the batch to pandas. An expectation it cannot
compute exactly runs through GX's own pandas engine, on only the columns it names. Every result's
meta says which engine ran it (``featurelake.engine``), and why when it was not polars.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from featurelake.validate.metrics import MetricPlan, MetricRequest

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

RESULT_FORMAT = "SUMMARY"
ENGINE_META = "featurelake.engine"
FALLBACK_META = "featurelake.fallback_reason"
_COLUMN_KWARGS = ("column", "column_list", "column_A", "column_B")


def ephemeral_context() -> AbstractDataContext:
    """A throwaway GX context without progress bars (logs and CLIs, not terminals)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_with_gx_pandas(
    context: AbstractDataContext, suite: ExpectationSuite, batch: pl.DataFrame, name: str
) -> ExpectationSuiteValidationResult:
    """GX alone: the batch converted to pandas and validated by GX's pandas engine."""
    asset = context.data_sources.add_pandas(name=name).add_dataframe_asset(name="batch")
    definition = asset.add_batch_definition_whole_dataframe(name="whole")
    gx_batch = definition.get_batch(batch_parameters={"dataframe": batch.to_pandas()})
    result = gx_batch.validate(suite, result_format=RESULT_FORMAT)
    for evr in result.results:
        evr.meta = {**(evr.meta or {}), ENGINE_META: "gx-pandas"}
    return result


def validate_with_polars(
    context: AbstractDataContext, suite: ExpectationSuite, batch: pl.DataFrame, name: str
) -> ExpectationSuiteValidationResult:
    """GX's suite and verdicts on metrics polars computed; the rest through GX's pandas engine."""
    from great_expectations.execution_engine import PandasExecutionEngine

    engine, batch_id = PandasExecutionEngine(), f"{name}-batch"
    configurations = _in_gx_order(suite, batch_id)
    plan, planned, refused = MetricPlan(batch), [], {}
    for configuration in configurations:
        expectation = configuration.to_domain_obj()
        try:
            plan.add(_requests(expectation, engine))
            planned.append(expectation)
        except Exception as reason:  # GX's own errors (bad kwargs, unknown columns) are GX's to report
            refused[configuration.id] = f"{type(reason).__name__}: {reason}"
    try:
        metrics = plan.compute()
    except Exception as failure:  # a polars failure is the engine's, never the batch's: GX computes it all
        refused.update({e.id: f"the polars pass failed: {type(failure).__name__}: {failure}" for e in planned})
        planned, metrics = [], {}
    results: dict[Any, Any] = {}
    for expectation in planned:
        try:
            results[expectation.id] = _judge(expectation, metrics, engine)
        except Exception as reason:  # let GX reproduce (or report) it on its own metrics
            refused[expectation.id] = f"{type(reason).__name__}: {reason}"
    results.update(_fallback(context, suite, batch, name, [c for c in configurations if c.id in refused], refused))
    return _suite_result(suite, [results[c.id] for c in configurations], batch_id, name)


def _in_gx_order(suite: ExpectationSuite, batch_id: str) -> list[Any]:
    """The suite's configurations as GX's validator orders them (grouped by column) and names the batch."""
    groups: dict[str, list[Any]] = {}
    for configuration in suite.expectation_configurations:
        evaluated = copy.deepcopy(configuration)
        evaluated.kwargs.update({"batch_id": batch_id})
        column = evaluated.kwargs.get("column")
        groups.setdefault(column if isinstance(column, str) else "_nocolumn", []).append(evaluated)
    return [c for group in groups.values() for c in group]


def _requests(expectation: Any, engine: Any) -> list[MetricRequest]:
    """The metrics GX's pandas engine would compute for this expectation, as requests."""
    dependencies = expectation.get_validation_dependencies(
        execution_engine=engine, runtime_configuration={"result_format": RESULT_FORMAT}
    )
    return [
        MetricRequest(c.id, c.metric_name, c.metric_domain_kwargs, c.metric_value_kwargs)
        for c in dependencies.metric_configurations.values()
    ]


def _judge(expectation: Any, metrics: dict[Any, Any], engine: Any) -> Any:
    """GX's verdict on the metrics polars computed: the same call GX's validator makes on its own."""
    result = expectation.metrics_validate(
        metrics=metrics, runtime_configuration={"result_format": RESULT_FORMAT}, execution_engine=engine
    )
    result.meta = {**(result.meta or {}), ENGINE_META: "polars"}
    return result


def _fallback(
    context: AbstractDataContext,
    suite: ExpectationSuite,
    batch: pl.DataFrame,
    name: str,
    configurations: Sequence[Any],
    reasons: dict[Any, str],
) -> dict[Any, Any]:
    """Run the expectations polars refused through GX's pandas engine, on only the columns they name."""
    import great_expectations as gx

    if not configurations:
        return {}
    remainder = gx.ExpectationSuite(name=suite.name, expectations=list(configurations))  # keeps their ids
    subset = batch.select([c for c in batch.columns if c in _columns_named(configurations, batch.columns)])
    result = validate_with_gx_pandas(context, remainder, subset, name)
    for evr in result.results:
        evr.meta[FALLBACK_META] = reasons.get(evr.expectation_config.id, "")
    return {evr.expectation_config.id: evr for evr in result.results}


def _columns_named(configurations: Sequence[Any], available: Sequence[str]) -> set[str]:
    """The columns these expectations read; all of them when one reads the table or filters rows."""
    named: set[str] = set()
    for configuration in configurations:
        kwargs = configuration.kwargs
        if kwargs.get("row_condition") or not any(k in kwargs for k in _COLUMN_KWARGS):
            return set(available)
        for key in _COLUMN_KWARGS:
            value = kwargs.get(key)
            named.update([value] if isinstance(value, str) else value or [])
    return named


def _suite_result(suite: ExpectationSuite, results: list[Any], batch_id: str, name: str) -> Any:
    """The suite-level result, shaped as GX's validator shapes it, with the engines' share in meta."""
    from great_expectations import __version__ as gx_version
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.validator.validator import calc_validation_statistics

    statistics = calc_validation_statistics(results)
    engines = [r.meta.get(ENGINE_META) for r in results]
    return ExpectationSuiteValidationResult(
        results=results,
        success=statistics.success,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": statistics.evaluated_expectations,
            "successful_expectations": statistics.successful_expectations,
            "unsuccessful_expectations": statistics.unsuccessful_expectations,
            "success_percent": statistics.success_percent,
        },
        meta={
            "great_expectations_version": gx_version,
            "batch_spec": {"batch_data": "PolarsDataFrame"},
            "batch_markers": {"ge_load_time": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")},
            "active_batch_definition": {
                "datasource_name": name,
                "data_connector_name": "fluent",
                "data_asset_name": "batch",
                "batch_identifiers": {"dataframe": "<DATAFRAME>"},
            },
            ENGINE_META: {engine: engines.count(engine) for engine in ("polars", "gx-pandas")},
        },
        batch_id=batch_id,
    )

"""Great Expectations gate: the only module that imports great_expectations.

Suites are derived from the FeatureSet spec, so a contract change is a validation change.
GX is imported lazily because it costs seconds to import and most commands never validate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from featurelake.core.featureset import FeatureSet

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context import AbstractDataContext


class ValidationFailedError(RuntimeError):
    """A batch failed its suite; nothing was published."""


@dataclass(frozen=True)
class ValidationOutcome:
    """What the gate decided and why, in GX's own result format."""

    success: bool
    evaluated: int
    failed: tuple[str, ...]
    suite_hash: str
    result: dict[str, Any]


def build_suite(spec: FeatureSet, input_rows: int, context: AbstractDataContext | None = None) -> ExpectationSuite:
    """The expectation suite a batch of ``spec`` must pass before it is published."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = context or gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{spec.name}.v{spec.version}"))
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=input_rows))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key_columns)))
    for column in spec.key_columns:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    for feature in spec.features:
        suite.add_expectation(gxe.ExpectColumnToExist(column=feature.name))
        if not feature.nullable:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=feature.name))
        if feature.min_value is not None or feature.max_value is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(
                    column=feature.name, min_value=feature.min_value, max_value=feature.max_value
                )
            )
    return suite


def suite_hash(suite: ExpectationSuite) -> str:
    """A content hash of the suite's expectations, recorded with every publish."""
    configs = sorted(
        json.dumps(e.configuration.to_json_dict(), sort_keys=True, default=str) for e in suite.expectations
    )
    return hashlib.sha256("\n".join(configs).encode()).hexdigest()[:16]


def validate_batch(spec: FeatureSet, batch: pl.DataFrame, input_rows: int) -> ValidationOutcome:
    """Run the spec's suite on a feature batch (SUMMARY results: bounded size)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # logs and CLIs, not terminals
    suite = build_suite(spec, input_rows, context)
    asset = context.data_sources.add_pandas(name=spec.name).add_dataframe_asset(name="batch")
    definition = asset.add_batch_definition_whole_dataframe(name="whole")
    gx_batch = definition.get_batch(batch_parameters={"dataframe": batch.to_pandas()})
    result = gx_batch.validate(suite, result_format="SUMMARY")
    failed = tuple(_describe(r.expectation_config.to_json_dict()) for r in result.results if not r.success)
    return ValidationOutcome(
        success=bool(result.success),
        evaluated=len(result.results),
        failed=failed,
        suite_hash=suite_hash(suite),
        result=result.to_json_dict(),
    )


def _describe(config: dict[str, Any]) -> str:
    kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k != "batch_id"}
    return f"{config.get('type')}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"

"""Great Expectations gate: with :mod:`featurelake.validate.gx`, the only modules that import GX.

Suites are derived from the FeatureSet spec, so a contract change is a validation change, plus
the user expectations kept in a file beside the feature set (see :func:`load_user_expectations`).
Each expectation is blocking (``error``, GX severity critical) or warn-only (``warn``, GX
severity warning): a batch that fails only warn-only expectations is published and flagged.
GX is imported lazily because it costs seconds to import and most commands never validate.
GX owns the suite and the results; who computes its metrics is a choice (``engine``): polars by
default, GX's pandas engine on request or for what polars cannot compute exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import yaml

from featurelake.core.featureset import FeatureSet

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context import AbstractDataContext

Severity = Literal["error", "warn"]
#: Who computes the suite's metrics (GX judges them either way); see :func:`validate_batch`.
ValidationEngine = Literal["polars", "gx-pandas"]
ENGINES: tuple[ValidationEngine, ...] = ("polars", "gx-pandas")
_GX_SEVERITY: dict[Severity, str] = {"error": "critical", "warn": "warning"}
_EXAMPLES = 5


class ValidationFailedError(RuntimeError):
    """A batch failed a blocking expectation; nothing was published."""


@dataclass(frozen=True)
class CheckFailure:
    """One failed expectation: what, how serious, and a few offending values (features, never raw PII)."""

    expectation: str
    severity: Severity
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationOutcome:
    """What the gate decided and why, with GX's own result for the record."""

    evaluated: int
    failures: tuple[CheckFailure, ...]
    suite_hash: str
    result: dict[str, Any]

    @property
    def success(self) -> bool:
        """True when no blocking expectation failed (warn-only failures do not block)."""
        return not self.failed

    @property
    def failed(self) -> tuple[str, ...]:
        """The blocking failures."""
        return tuple(f.expectation for f in self.failures if f.severity == "error")

    def metrics(self) -> dict[str, float]:
        """The gate's verdict as MLflow metrics (what `featurelake status` and the demo read back)."""
        return {
            "validation_success": float(self.success),
            "expectations_evaluated": float(self.evaluated),
            "expectations_failed": float(len(self.failed)),
            "expectations_warned": float(len(self.warnings)),
        }

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warn-only failures: published, but flagged."""
        return tuple(f.expectation for f in self.failures if f.severity == "warn")


def load_user_expectations(path: Path) -> list[dict[str, Any]]:
    """The expectations a feature set's owner keeps beside it (``<name>.v<version>.expectations.yaml``).

    The file holds ``expectations:``, a list of ``{type, kwargs, severity (error|warn), notes}``,
    where ``type`` is a GX expectation type such as ``expect_column_mean_to_be_between``. No file
    means no user expectations.

    Raises:
        ValueError: naming the file and the entry that is malformed.
    """
    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("expectations", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping with an 'expectations' list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ValueError(f"{path}: expectation #{index + 1} needs a 'type' (a GX expectation type)")
        if entry.get("severity", "error") not in _GX_SEVERITY:
            raise ValueError(
                f"{path}: expectation #{index + 1} has severity {entry.get('severity')!r}; use error or warn"
            )
    return entries


def build_suite(
    spec: FeatureSet,
    input_rows: int,
    user_expectations: list[dict[str, Any]] | None = None,
    context: AbstractDataContext | None = None,
) -> ExpectationSuite:
    """The expectation suite a batch of ``spec`` must pass before it is published.

    Raises:
        ValueError: for a user expectation GX does not know, naming its type.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = context or gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name=f"{spec.name}.v{spec.version}")  # saved once, when complete (see below)
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
    for entry in user_expectations or []:
        suite.add_expectation(_user_expectation(entry))
    return context.suites.add(suite)  # a saved suite re-serializes itself on every addition: 0.5 s for 50


def _user_expectation(entry: dict[str, Any]) -> Any:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    severity: Severity = entry.get("severity", "error")
    meta = {"featurelake.source": "user", **({"notes": entry["notes"]} if entry.get("notes") else {})}
    try:
        expectation = ExpectationConfiguration(
            type=entry["type"], kwargs=dict(entry.get("kwargs", {})), meta=meta
        ).to_domain_obj()
    except Exception as error:  # GX raises several types for an unknown or misconfigured expectation
        raise ValueError(f"user expectation {entry['type']!r} is not valid: {error}") from error
    expectation.severity = _GX_SEVERITY[severity]
    return expectation


def suite_hash(suite: ExpectationSuite) -> str:
    """A content hash of the suite's expectations (severity and notes included), recorded with every publish.

    GX gives every expectation a random id when it joins a suite; the id is left out, or the same
    suite would hash differently on every build.
    """
    configs = sorted(
        json.dumps(
            {**e.configuration.to_json_dict(), "id": None, "severity": str(e.severity)}, sort_keys=True, default=str
        )
        for e in suite.expectations
    )
    return hashlib.sha256("\n".join(configs).encode()).hexdigest()[:16]


def schema_failures(spec: FeatureSet, batch: pl.DataFrame) -> list[CheckFailure]:
    """Columns whose polars type differs from the spec: checked here, since GX sees pandas types only."""
    expected = spec.output_schema()
    return [
        CheckFailure(f"column {name} has type {batch.schema[name]}, the spec says {dtype}", "error")
        for name, dtype in expected.items()
        if name in batch.columns and batch.schema[name] != dtype
    ]


def validate_batch(
    spec: FeatureSet,
    batch: pl.DataFrame,
    input_rows: int,
    user_expectations: list[dict[str, Any]] | None = None,
    *,
    engine: ValidationEngine = "polars",
) -> ValidationOutcome:
    """Run the spec's suite (and the schema check) on a feature batch (SUMMARY results: bounded size).

    ``engine`` says who computes GX's metrics: ``polars`` (the fast path, see
    :mod:`featurelake.validate.gx`; what it cannot compute exactly runs on GX's pandas engine) or
    ``gx-pandas`` (GX alone, on ``batch.to_pandas()``). Either way GX builds the suite and judges
    the metrics, and every result's meta names the engine that ran it.
    """
    from featurelake.validate.gx import ephemeral_context, validate_with_gx_pandas, validate_with_polars

    if engine not in ENGINES:
        raise ValueError(f"validation engine {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    context = ephemeral_context()
    suite = build_suite(spec, input_rows, user_expectations, context)
    if engine == "polars":
        result = validate_with_polars(context, suite, batch, spec.name)
    else:
        result = validate_with_gx_pandas(context, suite, batch, spec.name)
    failures = schema_failures(spec, batch) + [_failure(r, batch) for r in result.results if not r.success]
    return ValidationOutcome(
        evaluated=len(result.results) + len(spec.output_schema()),
        failures=tuple(failures),
        suite_hash=suite_hash(suite),
        result=result.to_json_dict(),
    )


def _failure(result: Any, batch: pl.DataFrame) -> CheckFailure:
    config = result.expectation_config
    severity: Severity = "error" if str(config.severity).lower().endswith("critical") else "warn"
    details = result.result or {}
    unexpected = details.get("partial_unexpected_list") or []
    observed = details.get("observed_value")
    column = config.kwargs.get("column")
    examples = _examples(unexpected[:_EXAMPLES], batch, column if isinstance(column, str) else None)
    examples = examples or ([] if observed is None else [f"observed {observed}"])
    return CheckFailure(_describe(config.to_json_dict()), severity, tuple(examples))


def _examples(values: list[Any], batch: pl.DataFrame, column: str | None) -> list[str]:
    """Offending values as people read them: a missing value says ``null`` or ``NaN``, as polars holds it.

    GX sees the batch through pandas, where null and NaN are one ``nan``. The polars batch knows
    which each was: the missing values GX lists are the column's first missing ones, in row order.
    """
    missing = [v for v in values if _is_nan(v)]
    if not missing or column is None or column not in batch.columns:
        return [str(v) for v in values]
    series = batch.get_column(column)
    gaps = series.is_null() | series.is_nan() if series.dtype.is_float() else series.is_null()
    kinds = iter(["null" if v is None else "NaN" for v in series.filter(gaps).head(len(missing)).to_list()])
    return [next(kinds, "null") if _is_nan(v) else str(v) for v in values]


def _is_nan(value: Any) -> bool:
    """A missing value as pandas shows it: ``None`` or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _describe(config: dict[str, Any]) -> str:
    kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k != "batch_id"}
    return f"{config.get('type')}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def load_library() -> None:
    """Import Great Expectations now, so that memory budgets count it as the process's own footprint.

    It costs seconds and a few hundred MiB; a build that divides its memory budget before the gate
    first ran would otherwise hand that memory to its chunks twice.
    """
    import great_expectations  # noqa: F401

"""Great Expectations metrics computed with polars, equal to what GX's pandas engine computes.

GX stays the source of truth: :mod:`featurelake.validate.gx` asks each expectation which
metrics it needs (GX's own ``get_validation_dependencies``), this module computes those metrics
on the polars batch, and GX's own ``metrics_validate`` turns them into results (success,
``mostly``, strict bounds, the SUMMARY fields). Only the metric values are ours, so they must
equal GX's pandas engine's on ``batch.to_pandas()`` (see :mod:`featurelake.validate.conditions`
for those semantics; ``tests/unit/test_validation_engines.py`` compares the two engines).

Every count comes out of one lazy polars query (multi-threaded, one scan of the batch). Two
short follow-ups run only when needed: duplicate checks on a batch that is not sorted by its key,
and the first unexpected rows of the checks that found some (GX's ``partial_unexpected_list``).
Floating-point reductions (mean, sum, standard deviation, median, min, max) call pandas' own
reduction on that one column: another summation order would differ from GX's in the last bits,
and a bound could then flip.

A metric this module cannot compute exactly raises :class:`UnsupportedMetricError`; the caller
runs that expectation through GX's pandas engine instead. This module never imports GX.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from featurelake.validate.conditions import (
    COMPARABLE_KINDS,
    CONDITIONS,
    NUMERIC_KINDS,
    Condition,
    PandasView,
    UnsupportedMetricError,
    distinct_keys,
    only_column,
)

__all__ = ["MetricPlan", "MetricRequest", "UnsupportedMetricError"]

_ROW = "__featurelake_row"
_SAMPLE = 200  # rows fetched per failing check; SUMMARY shows 20
_RESULT_FORMATS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY")
_UNSUPPORTED_FORMAT_KEYS = ("include_unexpected_rows", "unexpected_index_column_names", "return_unexpected_index_query")
_BOOKKEEPING = ("batch_id", "table", "row_condition", "condition_parser")
_CONDITION_METRICS = ("unexpected_count", "filtered_row_count", "unexpected_values", "unexpected_index_list")

#: The pandas call GX 1.x makes for each column aggregate metric (its ``column_aggregate_metrics``).
_REDUCTIONS: dict[str, Callable[[Any], Any]] = {
    "column.mean": lambda s: s.mean(),
    "column.sum": lambda s: s.sum(),
    "column.standard_deviation": lambda s: s.std(),
    "column.min": lambda s: s.min(),
    "column.max": lambda s: s.max(),
    "column.median": lambda s: s[~s.isnull()].median(),
}


@dataclass(frozen=True)
class MetricRequest:
    """One metric GX needs: its name and kwargs as GX states them, under the caller's key."""

    key: Hashable
    name: str
    domain: Mapping[str, Any]
    value: Mapping[str, Any]


@dataclass
class MetricPlan:
    """The metrics of one batch, gathered expectation by expectation and computed together."""

    batch: pl.DataFrame
    view: PandasView = field(init=False)
    _scalars: dict[str, pl.Expr] = field(default_factory=dict)  # alias -> one-row expression
    _conditions: dict[str, Condition] = field(default_factory=dict)  # alias of its unexpected count -> check
    _metrics: dict[Hashable, Callable[[], Any]] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)
    _unexpected: dict[str, pl.Expr] = field(default_factory=dict)
    _samples: dict[str, pl.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.view = PandasView(self.batch)

    def add(self, requests: Sequence[MetricRequest]) -> None:
        """Plan one expectation's metrics: all of them, or none (raising UnsupportedMetricError)."""
        scalars: dict[str, pl.Expr] = {}
        conditions: dict[str, Condition] = {}
        metrics = {r.key: self._parse(r, scalars, conditions) for r in requests}
        self._scalars.update(scalars)
        self._conditions.update(conditions)
        self._metrics.update(metrics)

    def compute(self) -> dict[Hashable, Any]:
        """Every planned metric by its key."""
        if self._scalars:
            self._values = self._collect(self._scalars)
        self._count_unordered_duplicates()
        self._unexpected = {a: self._current(a, c) for a, c in self._conditions.items()}
        self._samples = self._sample_unexpected()
        return {key: metric() for key, metric in self._metrics.items()}

    def _collect(self, expressions: Mapping[str, pl.Expr]) -> dict[str, Any]:
        return self.batch.lazy().select(**expressions).collect().row(0, named=True)

    def _parse(self, request: MetricRequest, scalars: dict[str, pl.Expr], conditions: dict[str, Condition]) -> Any:
        name, domain = request.name, _plain_domain(request.domain)
        if name == "table.row_count" and not domain:
            return self._scalar(scalars, "rows", pl.len())
        if name == "table.columns" and not domain:
            columns = list(self.batch.columns)
            return lambda: columns
        if name in _REDUCTIONS:
            return self._reduction(name, only_column(domain), request.value)
        if name == "column.unique_proportion":
            return self._unique_proportion(scalars, only_column(domain), request.value)
        family, _, suffix = name.rpartition(".")
        if family not in CONDITIONS or suffix not in (*_CONDITION_METRICS, "unexpected_index_query"):
            raise UnsupportedMetricError(f"metric {name} has no polars implementation")
        limit = _partial_count(request.value)
        kwargs = {k: v for k, v in request.value.items() if k != "result_format"}
        condition = CONDITIONS[family](self.view, domain, kwargs)
        alias = f"{family}|{sorted(domain.items(), key=str)!r}|{sorted(kwargs.items(), key=str)!r}"
        conditions[alias] = condition
        return self._condition_metric(scalars, alias, suffix, condition, limit)

    def _condition_metric(
        self, scalars: dict[str, pl.Expr], alias: str, suffix: str, condition: Condition, limit: int
    ) -> Callable[[], Any]:
        if condition.ordered is not None and condition.adjacent is not None:
            scalars[f"{alias}|ordered"] = condition.ordered
            count = self._scalar(scalars, alias, condition.adjacent.sum())
        else:
            count = self._scalar(scalars, alias, condition.unexpected.sum())
        if suffix == "unexpected_count":
            return count
        if suffix == "filtered_row_count":
            return self._scalar(scalars, f"{alias}|considered", condition.considered.sum())
        if suffix == "unexpected_index_query":
            return lambda: None  # GX shows it only under return_unexpected_index_query, refused above
        if suffix == "unexpected_index_list":
            return lambda: [int(r) for r in self._sample(alias, condition)[_ROW].head(limit)]
        return lambda: self._unexpected_values(alias, condition, limit)

    def _scalar(self, scalars: dict[str, pl.Expr], alias: str, expression: pl.Expr) -> Callable[[], int]:
        scalars[alias] = expression
        return lambda: int(self._values[alias])

    def _reduction(self, name: str, column: str, value: Mapping[str, Any]) -> Callable[[], Any]:
        if set(value) or self.view.kind(column) not in NUMERIC_KINDS:
            raise UnsupportedMetricError(f"{name} on {column!r} ({self.batch.schema[column]}) has no polars path")
        reduce = _REDUCTIONS[name]

        def reduction() -> Any:
            with np.errstate(all="ignore"):  # ±inf makes NaN here, as in GX; the value says so, not a warning
                return reduce(self.batch.get_column(column).to_pandas())

        return reduction

    def _unique_proportion(self, scalars: dict[str, pl.Expr], column: str, value: Mapping[str, Any]) -> Any:
        """GX: distinct non-missing values / non-missing values, and 0 when every value is missing."""
        if set(value) or self.view.kind(column) not in COMPARABLE_KINDS:
            raise UnsupportedMetricError(f"column.unique_proportion on {column!r} has no polars path")
        present = ~self.view.missing(column)
        distinct = self._scalar(scalars, f"{column}|distinct", self.view.identity(column).filter(present).n_unique())
        counted = self._scalar(scalars, f"{column}|present", present.sum())
        return lambda: distinct() / counted() if counted() else 0

    def _count_unordered_duplicates(self) -> None:
        """Duplicate checks on batches not sorted by their key: distinct keys first, exact flags if short."""
        unordered = [
            a for a, c in self._conditions.items() if c.ordered is not None and not self._values[f"{a}|ordered"]
        ]
        probes = {}
        for alias in unordered:
            probes[f"{alias}|distinct"] = distinct_keys(self._conditions[alias], self.view)
            probes[f"{alias}|considered"] = self._conditions[alias].considered.sum()
        probed = self._collect(probes) if probes else {}
        short = [a for a in unordered if probed[f"{a}|distinct"] < probed[f"{a}|considered"]]
        exact = self._collect({a: self._conditions[a].unexpected.sum() for a in short}) if short else {}
        self._values.update({a: exact.get(a, 0) for a in unordered})

    def _current(self, alias: str, condition: Condition) -> pl.Expr:
        ordered = condition.adjacent is not None and self._values.get(f"{alias}|ordered")
        return condition.adjacent if ordered and condition.adjacent is not None else condition.unexpected

    def _sample_unexpected(self) -> dict[str, pl.DataFrame]:
        """The first unexpected rows (row number and values) of every check that found some, in one go."""
        found = [a for a in self._conditions if self._values.get(a)]
        frame = self.batch.lazy().with_row_index(_ROW)
        columns = {a: self._conditions[a].columns for a in found}
        queries = [frame.filter(self._unexpected[a]).select(_ROW, *columns[a]).head(_SAMPLE) for a in found]
        return dict(zip(found, pl.collect_all(queries), strict=True)) if found else {}

    def _sample(self, alias: str, condition: Condition) -> pl.DataFrame:
        empty = pl.DataFrame(schema={_ROW: pl.UInt32, **{c: self.batch.schema[c] for c in condition.columns}})
        return self._samples.get(alias, empty)

    def _unexpected_values(self, alias: str, condition: Condition, limit: int) -> list[Any]:
        """GX's unexpected values: as pandas holds them, a dict per row when the check spans columns."""
        frame = self.view.to_pandas(self._sample(alias, condition).select(condition.columns).head(limit))
        if len(condition.columns) == 1:
            return list(frame[condition.columns[0]])
        return list(frame.to_dict("records"))


def _plain_domain(domain: Mapping[str, Any]) -> dict[str, Any]:
    """The domain without GX's bookkeeping; refuses row conditions and named tables."""
    for key in ("table", "row_condition", "condition_parser"):
        if domain.get(key) is not None:
            raise UnsupportedMetricError(f"domain {key}={domain[key]!r} has no polars path")
    return {k: v for k, v in domain.items() if k not in _BOOKKEEPING}


def _partial_count(value: Mapping[str, Any]) -> int:
    """How many unexpected values the result format shows; refuses formats that want every row."""
    result_format = value.get("result_format") or {"result_format": "SUMMARY"}
    if isinstance(result_format, str):
        result_format = {"result_format": result_format}
    if result_format.get("result_format") not in _RESULT_FORMATS or any(
        result_format.get(k) for k in _UNSUPPORTED_FORMAT_KEYS
    ):
        raise UnsupportedMetricError(f"result format {result_format} has no polars path")
    count = int(result_format.get("partial_unexpected_count", 20))
    if count > _SAMPLE:
        raise UnsupportedMetricError(f"partial_unexpected_count {count} is above {_SAMPLE}")
    return count

"""GX's map conditions as polars expressions, on the batch as GX's pandas engine would see it.

GX's pandas engine validates ``batch.to_pandas()``, so "the same semantics" means pandas'
semantics after that conversion, not polars' own: integers with nulls become float64, NaN is
missing exactly like null, and when rows are compared for duplicates null and NaN are one value.
:class:`PandasView` holds those rules; each condition builder mirrors one GX metric's pandas
implementation (named in its docstring) and refuses, with :class:`UnsupportedMetricError`, any
kwargs or column type whose pandas behaviour it does not reproduce exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

_INT64 = (-(2**63), 2**63 - 1)
_NUMERIC = {"int", "float"}
_COMPARABLE = {"int", "float", "float32", "str", "bool", "temporal"}
_IGNORE_ROW_IF = ("all_values_are_missing", "any_value_is_missing", "never")


class UnsupportedMetricError(ValueError):
    """The polars engine cannot compute this metric exactly as GX's pandas engine would."""


@dataclass(frozen=True)
class Condition:
    """A map condition: the rows GX considers (its domain) and, among them, the unexpected ones.

    Duplicate checks also carry a cheap form: when ``ordered`` (a one-row boolean) holds, equal
    keys sit next to each other and ``adjacent`` flags exactly the rows ``unexpected`` flags.
    """

    columns: tuple[str, ...]
    considered: pl.Expr
    unexpected: pl.Expr
    ordered: pl.Expr | None = None
    adjacent: pl.Expr | None = None


class PandasView:
    """How GX's pandas engine sees each column of the batch after ``to_pandas()``."""

    def __init__(self, batch: pl.DataFrame) -> None:
        self.schema = batch.schema
        self.nullable_ints = {c for c in batch.columns if _kind(batch.schema[c]) == "int" and batch[c].null_count()}

    def kind(self, column: str) -> str:
        """The column's kind as pandas holds it (integers with nulls become float64)."""
        if column not in self.schema:
            raise UnsupportedMetricError(f"column {column!r} is not in the batch (GX reports that itself)")
        return "float" if column in self.nullable_ints else _kind(self.schema[column])

    def expr(self, column: str) -> pl.Expr:
        """The column as pandas compares it."""
        return pl.col(column).cast(pl.Float64) if column in self.nullable_ints else pl.col(column)

    def missing(self, column: str) -> pl.Expr:
        """Pandas' ``isnull``: null, and NaN in float columns."""
        if self.kind(column) in {"float", "float32"}:
            return pl.col(column).is_null() | pl.col(column).is_nan()
        return pl.col(column).is_null()

    def identity(self, column: str) -> pl.Expr:
        """The column for duplicate detection: pandas treats null and NaN as one and the same value."""
        return self.expr(column).fill_nan(None) if self.kind(column) in {"float", "float32"} else self.expr(column)

    def to_pandas(self, rows: pl.DataFrame) -> Any:
        """A few rows converted as the whole batch would be (so values keep the batch's pandas types)."""
        return rows.with_columns(
            pl.col(c).cast(pl.Float64) for c in self.nullable_ints if c in rows.columns
        ).to_pandas()


def _kind(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int"
    if dtype == pl.Float64:
        return "float"
    if dtype == pl.Float32:
        return "float32"
    if dtype == pl.String:
        return "str"
    if dtype == pl.Boolean:
        return "bool"
    return "temporal" if dtype.is_temporal() else "other"


def every_row() -> pl.Expr:
    """A row-wise True (``pl.lit(True)`` is one value: its sum would be 1, not the row count)."""
    return pl.repeat(True, pl.len())


def only_column(domain: Mapping[str, Any]) -> str:
    """The one column a column metric's domain names."""
    if set(domain) != {"column"} or not isinstance(domain["column"], str):
        raise UnsupportedMetricError(f"domain {dict(domain)} is not a single column")
    return str(domain["column"])


def _allow(kwargs: Mapping[str, Any], allowed: set[str]) -> None:
    if set(kwargs) - allowed:
        raise UnsupportedMetricError(f"metric kwargs {sorted(set(kwargs) - allowed)} have no polars path")


def _nonnull(view: PandasView, domain: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Condition:
    """``column_values.nonnull``: ``~column.isnull()`` over every row (nulls are not filtered out)."""
    column = only_column(domain)
    _allow(kwargs, set())
    if view.kind(column) == "other":
        raise UnsupportedMetricError(f"column {column!r} ({view.schema[column]}) has no polars path")
    return Condition((column,), every_row(), view.missing(column))


def _between(view: PandasView, domain: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Condition:
    """``column_values.between``: ``min <= column <= max`` (or strict) on the non-missing values."""
    column = only_column(domain)
    _allow(kwargs, {"min_value", "max_value", "strict_min", "strict_max"})
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if view.kind(column) not in _NUMERIC or not all(_plain_number(b) for b in (low, high) if b is not None):
        raise UnsupportedMetricError(f"between on {column!r} ({view.schema[column]}) with {low!r}..{high!r}")
    if (low is None and high is None) or (low is not None and high is not None and low > high):
        raise UnsupportedMetricError("GX refuses these bounds; it reports that itself")
    x, inside = view.expr(column), pl.lit(True)
    if low is not None:
        inside = inside & (x > low if kwargs.get("strict_min") else x >= low)
    if high is not None:
        inside = inside & (x < high if kwargs.get("strict_max") else x <= high)
    considered = ~view.missing(column)
    return Condition((column,), considered, considered & ~inside)


def _in_set(view: PandasView, domain: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Condition:
    """``column_values.in_set``: ``column.isin(value_set)`` on the non-missing values."""
    column = only_column(domain)
    _allow(kwargs, {"value_set"})
    considered, values = ~view.missing(column), kwargs.get("value_set")
    if values is None:  # GX: vacuously true
        return Condition((column,), considered, pl.lit(False))
    members = _members(view.kind(column), list(values)) if isinstance(values, list | tuple | set) else None
    if members is None:
        raise UnsupportedMetricError(f"value_set {values!r} against {column!r} ({view.schema[column]})")
    return Condition((column,), considered, considered & ~view.expr(column).cast(members.dtype).is_in(members))


def _members(kind: str, values: list[Any]) -> pl.Series | None:
    """The value set typed as pandas' ``isin`` compares it, or None when that is not plain."""
    if kind == "str" and all(isinstance(v, str) for v in values):
        return pl.Series(values, dtype=pl.String)
    if kind == "int" and all(_plain_int(v) for v in values):
        return pl.Series(values, dtype=pl.Int64)
    if kind in _NUMERIC and all(_plain_number(v) for v in values):
        return pl.Series([float(v) for v in values], dtype=pl.Float64)
    return None


def _unique(view: PandasView, domain: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Condition:
    """``column_values.unique``: ``~column.duplicated(keep=False)`` on the non-missing values."""
    column = only_column(domain)
    _allow(kwargs, set())
    return duplicates(view, [column], ~view.missing(column))


def _compound_unique(view: PandasView, domain: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Condition:
    """``compound_columns.unique``: ``~df[columns].duplicated(keep=False)`` on rows ``ignore_row_if`` keeps."""
    _allow(kwargs, set())
    columns, ignore = domain.get("column_list"), domain.get("ignore_row_if", "all_values_are_missing")
    if set(domain) - {"column_list", "ignore_row_if"} or not isinstance(columns, list) or not columns:
        raise UnsupportedMetricError(f"domain {dict(domain)} is not a column list")
    if ignore not in _IGNORE_ROW_IF:
        raise UnsupportedMetricError(f"ignore_row_if={ignore!r}")
    missing = [view.missing(c) for c in columns]
    considered = {
        "all_values_are_missing": ~pl.all_horizontal(missing),
        "any_value_is_missing": ~pl.any_horizontal(missing),
    }.get(ignore, every_row())
    return duplicates(view, columns, considered)


def duplicates(view: PandasView, columns: list[str], considered: pl.Expr) -> Condition:
    """Rows whose key (null and NaN equal) occurs more than once among the considered rows.

    Feature batches come sorted by their key (``compute_features`` sorts them), and then
    duplicates are neighbours: comparing each row with the previous and next one costs a scan
    instead of a hash table over every key. ``ordered`` says whether that holds for this batch
    (no missing key values, keys non-decreasing); otherwise the hashing form ``unexpected`` is used.
    """
    if any(view.kind(c) not in _COMPARABLE for c in columns):
        raise UnsupportedMetricError(f"duplicate check over {columns} has no polars path for these types")
    keys = [view.identity(c) for c in columns]
    exact = considered & (pl.struct([k.alias(c) for k, c in zip(keys, columns, strict=True)]).is_duplicated())
    non_decreasing = pl.lit(True)
    for key in reversed(keys):
        non_decreasing = (key > key.shift(1)) | ((key == key.shift(1)) & non_decreasing)
    complete = ~pl.any_horizontal([view.missing(c) for c in columns]).any()
    ordered = complete & non_decreasing.fill_null(True).all()
    same_as_previous = pl.all_horizontal([(k == k.shift(1)).fill_null(False) for k in keys])
    same_as_next = pl.all_horizontal([(k == k.shift(-1)).fill_null(False) for k in keys])
    return Condition(tuple(columns), considered, exact, ordered, same_as_previous | same_as_next)


def distinct_keys(condition: Condition, view: PandasView) -> pl.Expr:
    """How many distinct key hashes the considered rows hold: as many as rows proves no duplicates.

    Distinct hashes mean distinct keys, so only "fewer hashes than rows" needs the exact check
    (a duplicate, or a rare hash collision); one hashed column is cheaper to count than the keys.
    """
    keys = [view.identity(c).alias(c) for c in condition.columns]
    return pl.struct(keys).filter(condition.considered).hash().n_unique()


def _plain_number(value: Any) -> bool:
    """An int or float bound pandas and polars compare alike (NaN orders differently in polars)."""
    return (isinstance(value, float) and not math.isnan(value)) or _plain_int(value)


def _plain_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]


CONDITIONS: dict[str, Callable[[PandasView, Mapping[str, Any], Mapping[str, Any]], Condition]] = {
    "column_values.nonnull": _nonnull,
    "column_values.between": _between,
    "column_values.in_set": _in_set,
    "column_values.unique": _unique,
    "compound_columns.unique": _compound_unique,
}
NUMERIC_KINDS = _NUMERIC
COMPARABLE_KINDS = _COMPARABLE

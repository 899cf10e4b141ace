"""Raw source contracts: the columns a producer promises and how bad rows are recognised.

A contract is data. :func:`apply_contract` is pure: it splits a raw frame into rows that keep
the promise (cast to the declared types) and rows that break it, each with a reason, so that
rows read always equal rows accepted plus rows quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

REASON_COLUMN = "_reason"


@dataclass(frozen=True)
class Constraint:
    """What a column's non-null values must satisfy beyond their type.

    ``allowed`` and ``pattern`` are checked on the value as text (``pattern`` must match it
    whole); ``min_value`` and ``max_value`` on the typed value, inclusive.
    """

    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class SourceContract:
    """What one raw source promises: typed columns, required ones, constraints and a primary key."""

    name: str
    columns: dict[str, pl.DataType]
    required: tuple[str, ...]
    primary_key: tuple[str, ...]
    event_time: str
    constraints: dict[str, Constraint] = field(default_factory=dict)
    #: Schema drift: what a file with columns the contract does not declare gets. ``reject``
    #: quarantines the whole file (the producer changed without telling anyone); ``keep`` lands
    #: them in bronze as text (the table's schema grows); ``drop`` ignores them.
    new_columns: Literal["reject", "keep", "drop"] = "reject"

    def __post_init__(self) -> None:
        named = {*self.required, *self.primary_key, self.event_time, *self.constraints}
        unknown = sorted(named - set(self.columns))
        if unknown:
            raise ValueError(f"source contract {self.name!r} names column(s) {unknown} it does not declare")

    @property
    def raw_prefix(self) -> str:
        """Where producers put this source's objects in the raw bucket."""
        return f"{self.name}/"


@dataclass(frozen=True)
class ContractSplit:
    """The outcome of applying a contract to one raw frame."""

    accepted: pl.DataFrame
    rejected: pl.DataFrame


def apply_contract(contract: SourceContract, raw: pl.DataFrame) -> ContractSplit:
    """Cast raw columns to the contract and separate the rows that break it.

    Raises:
        ValueError: when a declared column is missing, or an undeclared one appears under the
            ``reject`` drift policy: the whole file breaks the contract.
    """
    missing = [c for c in contract.columns if c not in raw.columns]
    if missing:
        raise ValueError(f"source {contract.name!r}: missing column(s) {missing}")
    extra = [c for c in raw.columns if c not in contract.columns]
    if extra and contract.new_columns == "reject":
        raise ValueError(
            f"source {contract.name!r}: undeclared column(s) {extra}; declare them in the contract "
            "or set its new_columns policy to 'keep' or 'drop'"
        )
    kept = extra if contract.new_columns == "keep" else []
    text = raw.select(pl.col(c).cast(pl.String).str.strip_chars().alias(c) for c in [*contract.columns, *kept])
    text = text.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text.columns)
    problems = [_cast_failure(c, dtype) for c, dtype in contract.columns.items()]
    problems += [_required_null(c) for c in contract.required]
    problems += [
        failure
        for column, constraint in contract.constraints.items()
        for failure in _constraint_failures(column, contract.columns[column], constraint)
    ]
    joined = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    reason = pl.when(joined != "").then(joined)
    typed = text.select(
        *(_cast(c, dtype).alias(c) for c, dtype in contract.columns.items()),
        *(pl.col(c) for c in kept),
        reason.alias(REASON_COLUMN),
    )
    duplicate = _is_later_duplicate(contract.primary_key)
    typed = typed.with_columns(
        pl.when(duplicate)
        .then(pl.lit(f"duplicate primary key {list(contract.primary_key)}"))
        .otherwise(pl.col(REASON_COLUMN))
        .alias(REASON_COLUMN)
    )
    bad = typed[REASON_COLUMN].is_not_null()
    return ContractSplit(
        accepted=typed.filter(~bad).drop(REASON_COLUMN),
        rejected=text.with_columns(typed[REASON_COLUMN]).filter(bad),
    )


def _cast(column: str, dtype: pl.DataType) -> pl.Expr:
    text = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return _parse_utc_timestamp(text).cast(dtype)
    if dtype == pl.Boolean:
        lowered = text.str.to_lowercase()
        return pl.when(lowered.is_in(["true", "1"])).then(True).when(lowered.is_in(["false", "0"])).then(False)
    cast = text.cast(dtype, strict=False)
    if dtype.is_float():
        return pl.when(cast.is_finite()).then(cast)  # NaN and infinities are not amounts
    return cast


def _parse_utc_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 text with or without an offset; naive values are taken to be UTC."""
    normalized = text.str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ").str.replace(r"(Z| UTC)$", "+00:00")
    with_offset = normalized.str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f%:z", time_unit="us", strict=False
    ).dt.convert_time_zone("UTC")
    naive = normalized.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False).dt.replace_time_zone("UTC")
    return pl.coalesce(with_offset, naive)


def _cast_failure(column: str, dtype: pl.DataType) -> pl.Expr:
    failed = pl.col(column).is_not_null() & _cast(column, dtype).is_null()
    return pl.when(failed).then(pl.lit(f"{column}: not a valid {dtype}"))


def _constraint_failures(column: str, dtype: pl.DataType, constraint: Constraint) -> list[pl.Expr]:
    """One reason expression per broken constraint, quoting the offending value."""
    text, value = pl.col(column), _cast(column, dtype)
    checks: list[tuple[pl.Expr, str]] = []
    if constraint.min_value is not None:
        checks.append((value < constraint.min_value, f"is below the minimum {constraint.min_value}"))
    if constraint.max_value is not None:
        checks.append((value > constraint.max_value, f"is above the maximum {constraint.max_value}"))
    if constraint.allowed is not None:
        allowed = list(constraint.allowed)
        checks.append((text.is_not_null() & ~text.is_in(allowed), f"is not one of {allowed}"))
    if constraint.pattern is not None:
        whole = f"^(?:{constraint.pattern})$"
        checks.append((text.is_not_null() & ~text.str.contains(whole), f"does not match {constraint.pattern!r}"))
    return [
        pl.when(broken).then(pl.concat_str(pl.lit(f"{column}: "), text, pl.lit(f" {complaint}")))
        for broken, complaint in checks
    ]


def _required_null(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_null()).then(pl.lit(f"{column}: required but null"))


def _is_later_duplicate(primary_key: tuple[str, ...]) -> pl.Expr:
    """A valid row whose key an earlier valid row of the same file already used."""
    valid = pl.col(REASON_COLUMN).is_null()
    return valid & (valid.cast(pl.Int64).cum_sum().over(list(primary_key)) > 1)

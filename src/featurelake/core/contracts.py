"""Raw source contracts: the columns a producer promises and how bad rows are recognised.

A contract is data. :func:`apply_contract` is pure: it splits a raw frame into rows that keep
the promise (cast to the declared types) and rows that break it, each with a reason, so that
rows read always equal rows accepted plus rows quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from featurelake.core.pii import PII_POLICIES, PiiPolicy
from featurelake.core.raw_formats import shown_names

REASON_COLUMN = "_reason"
#: Quarantine's column holding a rejected row (or the start of a rejected file) as text.
RAW_CONTENT = "_raw"


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
    #: Timestamps without a zone (``2026-11-01 10:00:00``): ``utc`` takes them to be UTC;
    #: ``reject`` quarantines the row ("event_time: timestamp has no time zone"), for producers
    #: whose clock is local and would otherwise be shifted silently. Timestamps with an offset
    #: (``Z``, ``+02:00``) are always converted to UTC.
    naive_timestamps: Literal["utc", "reject"] = "utc"
    #: Personal data: the policy each PII column gets before bronze (see :mod:`featurelake.core.pii`).
    #: Quarantined raw content is protected alike (reasons never quote any value).
    pii: dict[str, PiiPolicy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        named = {*self.required, *self.primary_key, self.event_time, *self.constraints, *self.pii}
        unknown = sorted(named - set(self.columns))
        if unknown:
            raise ValueError(f"source contract {self.name!r} names column(s) {unknown} it does not declare")
        self._check_pii()

    def _check_pii(self) -> None:
        for column, policy in self.pii.items():
            where = f"source contract {self.name!r}: PII column {column!r}"
            if policy not in PII_POLICIES:
                raise ValueError(f"{where} has policy {policy!r}; expected one of {list(PII_POLICIES)}")
            if policy != "drop" and self.columns[column] != pl.String:
                raise ValueError(f"{where} must be declared as String to be {policy}ed")
            if policy == "drop" and (column in self.primary_key or column == self.event_time):
                raise ValueError(f"{where} is part of the key or the event time and cannot be dropped")

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

    Reasons name the column and what is wrong, never the value: a column nobody declared as
    personal data may still hold some, and reasons travel to logs, artifacts and events. The
    rejected row itself keeps its text (protected by the PII policies) for whoever may see it.

    Raises:
        ValueError: when a declared column is missing, or an undeclared one appears under the
            ``reject`` drift policy: the whole file breaks the contract. The message does not
            name the object; the caller puts its key in front.
    """
    missing = [c for c in contract.columns if c not in raw.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing} that the contract of source {contract.name!r} declares")
    extra = [c for c in raw.columns if c not in contract.columns]
    if extra and contract.new_columns == "reject":
        raise ValueError(
            f"undeclared column(s) {shown_names(extra)}; declare them in the contract of source "
            f"{contract.name!r} or set its new_columns policy to 'keep' or 'drop'"
        )
    kept = extra if contract.new_columns == "keep" else []
    text = raw.select(pl.col(c).cast(pl.String).str.strip_chars().alias(c) for c in [*contract.columns, *kept])
    text = text.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text.columns)
    problems = [_cast_failure(c, dtype, contract.naive_timestamps) for c, dtype in contract.columns.items()]
    problems += [_required_null(c) for c in contract.required]
    problems += [
        failure
        for column, constraint in contract.constraints.items()
        for failure in _constraint_failures(column, contract.columns[column], constraint)
    ]
    joined = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    reason = pl.when(joined != "").then(joined)
    typed = text.select(
        *(_cast(c, dtype, contract.naive_timestamps).alias(c) for c, dtype in contract.columns.items()),
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


def _cast(column: str, dtype: pl.DataType, naive_timestamps: Literal["utc", "reject"] = "utc") -> pl.Expr:
    """The column's text as ``dtype``: null where it is not a valid value (:func:`_cast_failure` says why)."""
    text = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return _parse_utc_timestamp(text, naive_timestamps).cast(dtype)
    if dtype == pl.Boolean:
        lowered = text.str.to_lowercase()
        return pl.when(lowered.is_in(["true", "1"])).then(True).when(lowered.is_in(["false", "0"])).then(False)
    cast = text.cast(dtype, strict=False)
    if dtype.is_float():
        return pl.when(cast.is_finite()).then(cast)  # NaN and infinities are not amounts
    return cast


def _parse_utc_timestamp(text: pl.Expr, naive_timestamps: Literal["utc", "reject"] = "utc") -> pl.Expr:
    """ISO-8601 text with an offset, converted to UTC; naive values are taken to be UTC, or null under ``reject``."""
    normalized = text.str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ").str.replace(r"(Z| UTC)$", "+00:00")
    with_offset = normalized.str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f%:z", time_unit="us", strict=False
    ).dt.convert_time_zone("UTC")
    if naive_timestamps == "reject":
        return with_offset
    naive = normalized.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False).dt.replace_time_zone("UTC")
    return pl.coalesce(with_offset, naive)


def _cast_failure(column: str, dtype: pl.DataType, naive_timestamps: Literal["utc", "reject"] = "utc") -> pl.Expr:
    """Why a present value does not cast, most specific reason first, never quoting the value.

    The value may be personal data, and reasons land in the quarantine table and in logs: a
    reason names the column and what is wrong (NaN, infinite, out of range, no time zone, not
    valid at all), and the quarantined row itself keeps the raw text for whoever may see it.
    """
    text = pl.col(column)
    checks: list[tuple[pl.Expr, str]] = []
    if dtype.is_float():
        number = text.cast(dtype, strict=False)  # "inf", "1e400" and "-Infinity" all parse as infinite
        checks += [
            (number.is_nan(), f"{column}: NaN is not a finite {dtype}"),
            (number.is_infinite(), f"{column}: infinite value is not a finite {dtype}"),
        ]
    if dtype.is_integer():
        checks.append((text.str.contains(r"^[+-]?\d+$"), f"{column}: out of range for {dtype}"))
    if isinstance(dtype, pl.Datetime) and naive_timestamps == "reject":
        checks.append((_parse_utc_timestamp(text).is_not_null(), f"{column}: timestamp has no time zone"))
    reason = pl.lit(f"{column}: not a valid {dtype}")
    for condition, message in reversed(checks):
        reason = pl.when(condition).then(pl.lit(message)).otherwise(reason)
    failed = text.is_not_null() & _cast(column, dtype, naive_timestamps).is_null()
    return pl.when(failed).then(reason)


def _constraint_failures(column: str, dtype: pl.DataType, constraint: Constraint) -> list[pl.Expr]:
    """One reason expression per broken constraint: ``<column>: value <complaint>``, never the value itself."""
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
    return [pl.when(broken).then(pl.lit(f"{column}: value {complaint}")) for broken, complaint in checks]


def _required_null(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_null()).then(pl.lit(f"{column}: required but null"))


def _is_later_duplicate(primary_key: tuple[str, ...]) -> pl.Expr:
    """A valid row whose key an earlier valid row of the same file already used."""
    valid = pl.col(REASON_COLUMN).is_null()
    return valid & (valid.cast(pl.Int64).cum_sum().over(list(primary_key)) > 1)

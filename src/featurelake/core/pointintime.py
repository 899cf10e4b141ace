"""Point-in-time joins: for each spine row, the latest feature row at or before its time.

Semantics, for a spine row with keys K and time T and a feature set with TTL L: take the
feature row of K with the greatest event time t such that ``T - L <= t <= T``; when several
rows share that time, the last one in table order; nulls when there is none. A row after T is
never used, so adding later events cannot change a spine row's features.

Engine: polars ``join_asof`` grouped by the entity keys. It needs feature times ascending
within each entity, not a global sort; published tables are read day by day with each file
sorted by entity and time, which satisfies it, and :func:`ensure_time_order` checks that in one
linear pass and sorts only when it does not hold. That is what makes the join faster than a
general-purpose ASOF JOIN on the same data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import polars as pl

_ROW = "__spine_row"
_FEATURE_TIME = "__feature_time"
_DAY_US = 86_400_000_000


class SpineError(ValueError):
    """The spine cannot be joined: a column is missing, null or of the wrong type."""


def check_spine(
    spine: pl.DataFrame,
    keys: tuple[str, ...],
    time: str,
    where: str,
    key_types: Mapping[str, pl.DataType] | None = None,
) -> None:
    """Refuse spines that would join wrongly, naming the column and what to do.

    Raises:
        SpineError: for a missing key or time column, nulls in them, a naive time column, or a
            key whose type differs from the feature table's (``key_types``).
    """
    missing = [c for c in (*keys, time) if c not in spine.columns]
    if missing:
        raise SpineError(f"{where}: the spine lacks column(s) {missing}; it has {spine.columns}")
    for column in (*keys, time):
        nulls = spine[column].null_count()
        if nulls:
            raise SpineError(f"{where}: spine column {column!r} has {nulls} null value(s); drop or fill them first")
    for key, expected in (key_types or {}).items():
        if spine.schema[key] != expected:
            raise SpineError(
                f"{where}: spine column {key!r} is {spine.schema[key]} but the feature table's is {expected}; "
                f"cast it first (pl.col({key!r}).cast(pl.{expected}))"
            )
    dtype = spine.schema[time]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise SpineError(
            f"{where}: spine time column {time!r} is {dtype}; it must be a time-zone-aware datetime: "
            f"{_time_fix(time, dtype)}"
        )


def _time_fix(column: str, dtype: pl.DataType) -> str:
    """How to turn a time column of this type into UTC datetimes, as a polars expression to paste."""
    if dtype == pl.String:
        return (
            f"parse the text with pl.col({column!r}).str.to_datetime(time_zone='UTC') (ISO 8601, with or without "
            f"an offset), or give its format, e.g. .str.to_datetime('%d/%m/%Y %H:%M', time_zone='UTC')"
        )
    if isinstance(dtype, pl.Datetime):
        return f"if its times are UTC, pl.col({column!r}).dt.replace_time_zone('UTC')"
    if dtype == pl.Date:
        return f"pl.col({column!r}).cast(pl.Datetime('us', 'UTC')) (midnight UTC)"
    if dtype.is_integer():
        return f"for epoch seconds, pl.from_epoch({column!r}, time_unit='s').dt.replace_time_zone('UTC')"
    return "convert it to pl.Datetime('us', 'UTC')"


def _lexsorted(frame: pl.DataFrame, columns: list[pl.Expr]) -> bool:
    """Whether every row is >= its predecessor in lexicographic order of ``columns`` (one pass)."""
    if frame.height < 2:
        return True
    in_order = columns[-1] >= columns[-1].shift(1)
    for column in reversed(columns[:-1]):
        previous = column.shift(1)
        in_order = (column > previous) | ((column == previous) & in_order)
    return bool(frame.select(in_order.slice(1).fill_null(False).all()).item())  # a null is never "in order"


def ensure_time_order(frame: pl.DataFrame, keys: tuple[str, ...], time: str) -> pl.DataFrame:
    """Rows with times ascending within each entity: as they are when already so, else stably sorted."""
    by_key = [*(pl.col(k) for k in keys), pl.col(time)]
    utc_day = pl.col(time).dt.epoch("us") // _DAY_US  # integer UTC day: cheaper than dt.date() on aware times
    if _lexsorted(frame, [utc_day, *by_key]) or _lexsorted(frame, by_key):  # the layout tables are read in first
        return frame
    return frame.sort([*keys, time], maintain_order=True)


def join_as_of(
    spine: pl.DataFrame,
    features: pl.DataFrame,
    *,
    keys: tuple[str, ...],
    spine_time: str,
    feature_time: str,
    ttl: timedelta,
    columns: dict[str, str],
) -> pl.DataFrame:
    """Attach ``columns`` (feature column -> output name) as of each spine row's time, spine order kept."""
    time_dtype = _finer(features.schema[feature_time], spine.schema[spine_time])
    right = ensure_time_order(
        features.select(
            *(pl.col(k) for k in keys),
            pl.col(feature_time).cast(time_dtype).alias(_FEATURE_TIME),
            *(pl.col(source).alias(target) for source, target in columns.items()),
        ),
        keys,
        _FEATURE_TIME,
    )
    left = spine.with_row_index(_ROW).with_columns(pl.col(spine_time).cast(time_dtype).alias(_FEATURE_TIME))
    joined = left.sort([*keys, _FEATURE_TIME]).join_asof(
        right,
        on=_FEATURE_TIME,
        by=list(keys),
        strategy="backward",
        tolerance=ttl,
        check_sortedness=False,
    )
    return joined.sort(_ROW).drop(_ROW, _FEATURE_TIME)


def _finer(feature_time: pl.DataType, spine_time: pl.DataType) -> pl.DataType:
    """The time type to join in: the finer unit of the two, so no spine time is truncated.

    Truncating a nanosecond spine time to microseconds would move the TTL's lower bound and let a
    row up to 999 ns too old in.
    """
    order = {"ms": 0, "us": 1, "ns": 2}
    assert isinstance(feature_time, pl.Datetime)
    assert isinstance(spine_time, pl.Datetime)
    unit = max(feature_time.time_unit, spine_time.time_unit, key=order.__getitem__)
    return pl.Datetime(unit, feature_time.time_zone)

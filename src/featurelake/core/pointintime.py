"""Point-in-time joins: for each spine row, the latest feature row at or before its time.

Semantics, for a spine row with keys K and time T and a feature set with TTL L: take the
feature row of K with the greatest event time t such that ``T - L <= t <= T``; when several
rows share that time, the last one in table order; nulls when there is none. A row after T is
never used, so adding later events cannot change a spine row's features.

Engine: polars ``join_asof`` grouped by the entity keys. It needs feature times ascending
within each entity, not a global sort. Published tables are read as runs sorted by entity and
time (a day, a month or a whole write, one after another in time), which satisfies it, and
:func:`ensure_time_order` checks that in linear passes and sorts by time alone only when it does
not hold. Table order (which decides between rows sharing an entity and a time) is the read
order of the files; tables written by builds have no such rows (see the tie rule in
featurelake.core.ties).

The spine side has the same need, which a spine in time order (the usual case: labels are logged as
they happen) already meets, so only its keys and time go into the join, in time order: as they are
when the time column is already ascending (one linear check), else permuted by an integer sort of
the time alone. The joined feature columns are gathered back into spine order and set beside the
untouched spine, so the spine's own columns (labels) are never moved and nothing is ever sorted by
string keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import timedelta

import polars as pl

_FEATURE_TIME = "__feature_time"
#: More runs than this: the frame is not in a read layout, and sorting it is the cheaper way.
_MAX_RUNS = 4_096


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


def _in_order(columns: list[pl.Expr]) -> pl.Expr:
    """Per row: whether it is >= its predecessor in lexicographic order of ``columns`` (null: not known)."""
    in_order = columns[-1] >= columns[-1].shift(1)
    for column in reversed(columns[:-1]):
        previous = column.shift(1)
        in_order = (column > previous) | ((column == previous) & in_order)
    return in_order


def _time_ordered_runs(frame: pl.DataFrame, keys: tuple[str, ...], time: str) -> bool:
    """Whether the rows are runs sorted by (keys, time) whose time spans follow one another.

    Then times ascend within every entity: inside a run by its sort, across runs because no run
    reaches back before an earlier one. It is the shape of every layout tables are read in (a
    day, a month or a whole write sorted by entity and time, one after another), checked in
    linear passes; more than ``_MAX_RUNS`` runs (an unsorted frame) answer False at once.
    """
    times = frame.get_column(time)
    if frame.height < 2 or times.null_count():
        return frame.height < 2
    breaks = frame.select(
        _in_order([*(pl.col(k) for k in keys), pl.col(time)]).slice(1).not_().fill_null(True).arg_true() + 1
    ).to_series()
    if breaks.len() >= _MAX_RUNS:
        return False
    physical, bounds = times.to_physical(), [0, *breaks.to_list(), frame.height]
    reach: int | None = None
    for begin, end in itertools.pairwise(bounds):
        run = physical.slice(begin, end - begin)
        low, high = run.min(), run.max()
        assert isinstance(low, int)
        assert isinstance(high, int)
        if reach is not None and low < reach:
            return False
        reach = high if reach is None else max(reach, high)
    return True


def ensure_time_order(frame: pl.DataFrame, keys: tuple[str, ...], time: str) -> pl.DataFrame:
    """Rows with times ascending within each entity: as they are when already so, else stably sorted by time.

    Sorting by time alone (an integer sort, never one by string keys) is enough: times then
    ascend within every entity, and rows sharing an entity and a time keep their table order.
    """
    if _time_ordered_runs(frame, keys, time) or frame.get_column(time).is_sorted():
        return frame
    return frame.sort(time, maintain_order=True)


def join_as_of(
    spine: pl.DataFrame,
    features: pl.DataFrame,
    *,
    keys: tuple[str, ...],
    spine_time: str,
    feature_time: str,
    ttl: timedelta,
    columns: dict[str, str],
    features_in_order: bool = False,
) -> pl.DataFrame:
    """Attach ``columns`` (feature column -> output name) as of each spine row's time, spine order kept.

    Only the spine's keys and time enter the join; the spine itself is returned with the joined
    columns beside it. An output name the spine already has gets polars' ``_right`` suffix.
    ``features_in_order`` says the caller already holds the feature rows with times ascending
    within each entity (as feature table reads return them), which skips checking it again.
    """
    time_dtype = _finer(features.schema[feature_time], spine.schema[spine_time])
    right = features.select(
        *(pl.col(k) for k in keys),
        pl.col(feature_time).cast(time_dtype).alias(_FEATURE_TIME),
        *(pl.col(source).alias(target) for source, target in columns.items()),
    )
    if not features_in_order:
        right = ensure_time_order(right, keys, _FEATURE_TIME)
    left = spine.select(*(pl.col(k) for k in keys), pl.col(spine_time).cast(time_dtype).alias(_FEATURE_TIME))
    order = time_order(left[_FEATURE_TIME])
    if order is not None:
        left = left.select(pl.all().gather(order))
    joined = left.join_asof(
        right,
        on=_FEATURE_TIME,
        by=list(keys),
        strategy="backward",
        tolerance=ttl,
        check_sortedness=False,  # exact for a left in time order: ascending within each entity
    ).drop(*keys, _FEATURE_TIME)
    if order is not None:
        joined = joined.select(pl.all().gather(inverse_permutation(order)))
    return spine.hstack(joined.rename({c: f"{c}_right" for c in joined.columns if c in spine.columns}))


def time_order(times: pl.Series) -> pl.Series | None:
    """Row positions that put ``times`` in ascending order, or None when they already are.

    The check is one linear pass; the fallback is a stable integer sort of the time alone, which
    is all ``join_asof`` needs (ascending within each entity) and far cheaper than a sort by keys.
    Nulls come first, as ``is_sorted`` expects them.
    """
    if times.is_sorted():
        return None
    return times.to_frame().select(pl.arg_sort_by(times.name, maintain_order=True)).to_series()


def inverse_permutation(order: pl.Series) -> pl.Series:
    """The permutation undoing ``order`` (``inverse[order[i]] = i``), in O(n) rather than a second sort."""
    index = pl.get_index_type()  # what arg_sort_by returns and gather reads without a cast
    positions = pl.int_range(order.len(), dtype=index, eager=True)
    return pl.zeros(order.len(), index, eager=True).scatter(order, positions)


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

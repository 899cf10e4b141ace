"""The point-in-time join as it was before issue 16, kept as an oracle and a benchmark baseline.

It sorts the whole spine (labels included) by (keys, time), joins, and sorts back by row index:
exact, and what the current ``join_as_of`` must equal row for row (tests/unit/
test_point_in_time_oracle.py) and beat (bench/join_order.py).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from featurelake.core.pointintime import _finer, ensure_time_order

_ROW = "__spine_row"
_FEATURE_TIME = "__feature_time"


def reference_join(
    spine: pl.DataFrame,
    features: pl.DataFrame,
    *,
    keys: tuple[str, ...],
    spine_time: str,
    feature_time: str,
    ttl: timedelta,
    columns: dict[str, str],
) -> pl.DataFrame:
    """The previous implementation: two full sorts of the spine, the second by row index."""
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

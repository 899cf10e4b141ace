"""How to cut a training set's spine into slabs that each fit a memory budget (pure planning).

A spine row's features depend only on its own entity's feature rows in ``[t - TTL, t]``, so
any partition of the spine's rows joins to the same values as the whole spine. Slabs are cut
from the spine in time order so that each slab's feature window (its earliest time minus the
TTL to its latest time) is narrow: a slab then reads about its share of the table, plus the TTL
overlap with its neighbour, which every slab re-reads on its own (no state passes between
slabs, so they can run anywhere). Slabs hold equal numbers of rows; rows with equal times may
fall on both sides of a cut, which changes nothing for the reason above.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import polars as pl

#: Peak bytes a slab's join holds per byte of the feature rows it reads: the read frame, its
#: decoded columns before the filter, the join's right side and the gathered output.
FEATURE_AMPLIFICATION = 4.0
#: Peak bytes per byte of the spine's keys and time: the slab, its join side and its output.
SPINE_AMPLIFICATION = 3.0


def column_bytes(dtype: pl.DataType) -> int:
    """The in-memory width of one value (strings counted as a 16-byte view, validity and a share of the buffer)."""
    if dtype.is_numeric() or dtype.is_temporal():
        return 8 + 1  # value + validity
    return 16 + 1 + 8


def row_bytes(dtypes: Iterable[pl.DataType]) -> int:
    """The in-memory width of one row of these column types."""
    return sum(column_bytes(dtype) for dtype in dtypes)


def slab_count(rows: int, spine_bytes: int, feature_bytes: int, available_bytes: int | None) -> int:
    """How many slabs keep one slab's join under ``available_bytes`` (1 without a budget).

    ``spine_bytes`` is the width of the spine columns the join reads times its rows;
    ``feature_bytes`` the estimated bytes of the feature rows the whole spine can reach. A
    budget too small even for single-row slabs still yields one slab per row: the caller
    decides whether that is acceptable.

    Raises:
        ValueError: when the budget leaves nothing for data.
    """
    if available_bytes is None or rows <= 1:
        return 1
    if available_bytes <= 0:
        raise ValueError("the memory budget leaves nothing for the training set's data")
    needed = spine_bytes * SPINE_AMPLIFICATION + feature_bytes * FEATURE_AMPLIFICATION
    return max(1, min(rows, math.ceil(needed / available_bytes)))


def slab_bounds(rows: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous, non-empty ``[start, end)`` ranges covering ``0..rows``, sizes differing by at most one."""
    count = max(1, min(count, rows))
    base, extra = divmod(rows, count)
    bounds, start = [], 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds

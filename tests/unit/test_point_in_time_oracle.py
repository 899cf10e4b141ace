"""join_as_of against the implementation it replaced, which sorted the whole spine twice.

``reference_join`` (tests/pit_reference.py) is the previous ``join_as_of`` verbatim: sort the
spine (labels included) by (keys, time), ``join_asof``, sort back by row index. The current one joins only the keys and
time, in time order, and gathers the features back; every frame must come out identical
(columns, order, dtypes, values) whatever the spine's order: time-sorted, key-sorted, shuffled,
with duplicates, one or two keys, string and integer keys, ns and us times, ties among feature
rows on (keys, time), spine times equal to feature times or at the TTL's edge, empty inputs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from featurelake.core.pointintime import join_as_of
from tests.pit_reference import reference_join

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
SLOTS = 24
EDGE = timedelta(microseconds=1)
KEY_VALUES: dict[str, list[object]] = {"station": ["s-01", "s-02", "s-10"], "sensor": [1, 2, 7]}
KEY_DTYPES: dict[str, pl.DataType] = {"station": pl.String(), "sensor": pl.Int64()}
KEY_SETS = [("station",), ("sensor",), ("station", "sensor"), ("sensor", "station")]
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=150)


def _times(draw: st.DrawFn, size: int, nudge: bool) -> list[datetime]:
    """Grid times (so ties and exact TTL edges are common), optionally a microsecond either side."""
    slots = draw(st.lists(st.integers(-2, SLOTS + 4), min_size=size, max_size=size))
    shifts = draw(st.lists(st.sampled_from([-EDGE, timedelta(0), EDGE]), min_size=size, max_size=size))
    return [T0 + s * STEP + (d if nudge else timedelta(0)) for s, d in zip(slots, shifts, strict=True)]


def _key_columns(draw: st.DrawFn, keys: tuple[str, ...], size: int, extra: bool) -> dict[str, pl.Series]:
    values = {k: [*KEY_VALUES[k], *(["s-99"] if k == "station" else [99])][: 4 if extra else 3] for k in keys}
    return {
        k: pl.Series(k, draw(st.lists(st.sampled_from(v), min_size=size, max_size=size))) for k, v in values.items()
    }


@st.composite
def feature_frames(draw: st.DrawFn, keys: tuple[str, ...], unit: str) -> pl.DataFrame:
    """Rows in random order, often tied on (keys, time); ``fid`` (row position) shows which row won."""
    size = draw(st.integers(0, 30))
    frame = pl.DataFrame(
        {
            **_key_columns(draw, keys, size, extra=False),
            "ts": pl.Series(_times(draw, size, nudge=False), dtype=pl.Datetime("us", "UTC")),
            "value": pl.Series(draw(st.lists(st.none() | st.floats(-9, 9), min_size=size, max_size=size))),
            "fid": pl.Series(range(size)),
        },
        schema_overrides={**{k: KEY_DTYPES[k] for k in keys}, "value": pl.Float64()},
    )
    return frame.with_columns(pl.col("ts").dt.cast_time_unit(unit))


@st.composite
def spines(draw: st.DrawFn, keys: tuple[str, ...], unit: str) -> pl.DataFrame:
    """A labelled spine, some rows duplicated, in one of the orders a caller may hand over."""
    size = draw(st.integers(0, 40))
    frame = pl.DataFrame(
        {
            **_key_columns(draw, keys, size, extra=True),
            "when": pl.Series(_times(draw, size, nudge=True), dtype=pl.Datetime("us", "UTC")),
            "label": pl.Series(range(size)),
        },
        schema_overrides={k: KEY_DTYPES[k] for k in keys},
    ).with_columns(pl.col("when").dt.cast_time_unit(unit))
    if size:
        frame = pl.concat([frame, frame[draw(st.lists(st.integers(0, size - 1), max_size=6))]])
    order = draw(st.sampled_from(["time", "keys", "shuffled", "as drawn"]))
    if order == "time":
        return frame.sort("when", maintain_order=True)
    if order == "keys":
        return frame.sort([*keys, "when"], maintain_order=True)
    if order == "shuffled":
        return frame[draw(st.permutations(range(frame.height)))]
    return frame


@st.composite
def cases(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, tuple[str, ...], timedelta]:
    keys = draw(st.sampled_from(KEY_SETS))
    features = draw(feature_frames(keys, draw(st.sampled_from(["us", "ns"]))))
    spine = draw(spines(keys, draw(st.sampled_from(["us", "ns"]))))
    return spine, features, keys, draw(st.integers(0, 6)) * STEP


def _both(
    spine: pl.DataFrame, features: pl.DataFrame, keys: tuple[str, ...], ttl: timedelta
) -> tuple[pl.DataFrame, pl.DataFrame]:
    arguments = {
        "keys": keys,
        "spine_time": "when",
        "feature_time": "ts",
        "ttl": ttl,
        "columns": {"value": "value_asof", "fid": "fid_asof", "ts": "feature_ts"},
    }
    return join_as_of(spine, features, **arguments), reference_join(spine, features, **arguments)


@PROPERTY
@given(case=cases())
def test_join_as_of_equals_the_double_sort_it_replaced(
    case: tuple[pl.DataFrame, pl.DataFrame, tuple[str, ...], timedelta],
) -> None:
    spine, features, keys, ttl = case
    new, old = _both(spine, features, keys, ttl)
    assert_frame_equal(new, old, check_exact=True)
    assert_frame_equal(new.select(spine.columns), spine, check_exact=True)  # labels and order untouched


@PROPERTY
@given(case=cases(), data=st.data())
def test_a_time_sorted_spine_joins_like_its_shuffled_copy(
    case: tuple[pl.DataFrame, pl.DataFrame, tuple[str, ...], timedelta], data: st.DataObject
) -> None:
    """The no-permutation path and the arg-sort path agree row for row."""
    spine, features, keys, ttl = case
    in_time = spine.sort("when", maintain_order=True)
    shuffled = in_time.with_row_index("position")[data.draw(st.permutations(range(spine.height)))]
    sorted_out, _ = _both(in_time, features, keys, ttl)
    shuffled_out, _ = _both(shuffled, features, keys, ttl)
    assert_frame_equal(shuffled_out.sort("position").drop("position"), sorted_out, check_exact=True)


def test_empty_spine_and_empty_features_give_the_reference_frame() -> None:
    spine = pl.DataFrame(
        {"station": ["s-01", "s-02"], "when": [T0, T0 + STEP], "label": [1, 0]},
        schema={"station": pl.String, "when": pl.Datetime("ns", "UTC"), "label": pl.Int8},
    )
    features = pl.DataFrame(
        {"station": ["s-02", "s-01"], "ts": [T0, T0], "value": [1.5, 2.5], "fid": [0, 1]},
        schema={"station": pl.String, "ts": pl.Datetime("us", "UTC"), "value": pl.Float32, "fid": pl.Int32},
    )
    for left, right in [(spine, features), (spine.clear(), features), (spine, features.clear())]:
        new, old = _both(left, right, ("station",), STEP)
        assert_frame_equal(new, old, check_exact=True)
        assert new.schema["value_asof"] == pl.Float32


def test_a_spine_in_another_zone_and_reversed_joins_like_the_reference() -> None:
    spine = pl.DataFrame(
        {"sensor": [1, 2, 1, 1], "when": [T0 + 3 * STEP, T0 + STEP, T0 + STEP, T0], "label": ["d", "c", "b", "a"]},
        schema={"sensor": pl.Int64, "when": pl.Datetime("us", "UTC"), "label": pl.String},
    ).with_columns(pl.col("when").dt.convert_time_zone("Asia/Kolkata"))
    features = pl.DataFrame(
        {
            "sensor": [1, 1, 2, 1],
            "ts": [T0, T0 + STEP, T0, T0 + STEP],
            "value": [1.0, 2.0, 3.0, 4.0],
            "fid": [0, 1, 2, 3],
        },
        schema={"sensor": pl.Int64, "ts": pl.Datetime("us", "UTC"), "value": pl.Float64, "fid": pl.Int64},
    )
    new, old = _both(spine, features, ("sensor",), 2 * STEP)
    assert_frame_equal(new, old, check_exact=True)
    assert new["fid_asof"].to_list() == [3, 2, 3, 0]  # tie at T0 + STEP: the later row (fid 3) wins, inclusive TTL edge


def test_an_output_name_the_spine_already_has_is_suffixed_as_before() -> None:
    spine = pl.DataFrame({"station": ["s-01"], "when": [T0], "value_asof": [7.0]})
    features = pl.DataFrame({"station": ["s-01"], "ts": [T0], "value": [1.0], "fid": [0]})
    new, old = _both(spine, features, ("station",), STEP)
    assert_frame_equal(new, old, check_exact=True)
    assert new.columns == ["station", "when", "value_asof", "value_asof_right", "fid_asof", "feature_ts"]

"""join_as_of, ensure_time_order and check_spine, checked by hypothesis against a brute-force oracle.

The oracle walks rows in plain Python: for a spine row with keys K and time T it keeps the
feature row of K with the greatest event time t such that ``T - ttl <= t <= T``, the later one
in frame order when several share that time, and nulls when there is none. Times sit on a coarse
grid (two-hour steps across three UTC days) so that ties, rows exactly at the spine time and rows
exactly at the TTL boundary are common; spine times are also nudged by one microsecond either way
to probe both edges. Every feature row carries ``fid``, its position in the drawn frame, so a
wrong tie-break shows up as a wrong id rather than as an equal-looking value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurelake.core.pointintime import SpineError, check_spine, ensure_time_order, join_as_of

Row = dict[str, Any]

UTC_US = pl.Datetime("us", "UTC")
T0 = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)  # the grid straddles UTC midnights
STEP = timedelta(hours=2)
SLOTS = 36  # three days of two-hour steps
US = timedelta(microseconds=1)
NUDGES = (-US, timedelta(0), US)
TIME = "event_time"  # the feature tables' event-time column

CUSTOMERS = ("c1", "c2", "c3")
MERCHANTS = (1, 2, 3)
KEY_DTYPES: dict[str, pl.DataType] = {"customer_id": pl.String(), "merchant_id": pl.Int64()}
# Spines also name entities that never appear in any feature frame.
SPINE_DOMAINS: dict[str, tuple[object, ...]] = {"customer_id": (*CUSTOMERS, "c9"), "merchant_id": (*MERCHANTS, 9)}

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=100)


@dataclass(frozen=True)
class Layout:
    """One feature set's shape: its entity keys (with the values they take) and output column names."""

    name: str
    keys: dict[str, tuple[object, ...]]

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(self.keys)

    @property
    def columns(self) -> dict[str, str]:
        return {"score": f"{self.name}_score", "fid": f"{self.name}_fid"}

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {**{k: KEY_DTYPES[k] for k in self.keys}, TIME: UTC_US, "score": pl.Float64(), "fid": pl.Int64()}


CUSTOMER = Layout("cust", {"customer_id": CUSTOMERS})
MERCHANT = Layout("merch", {"merchant_id": MERCHANTS})
PAIR = Layout("pair", {"customer_id": CUSTOMERS, "merchant_id": MERCHANTS})
LAYOUTS = (CUSTOMER, MERCHANT, PAIR)


def at(slot: int) -> datetime:
    return T0 + slot * STEP


def oracle(
    spine_rows: Sequence[Row],
    feature_rows: Sequence[Row],
    *,
    keys: Sequence[str],
    spine_time: str,
    feature_time: str,
    ttl: timedelta,
    columns: Mapping[str, str],
) -> list[Row]:
    """The point-in-time join by definition, one spine row at a time."""
    joined = []
    for spine_row in spine_rows:
        now = spine_row[spine_time]
        chosen: Row | None = None
        for feature_row in feature_rows:
            if any(feature_row[k] != spine_row[k] for k in keys):
                continue
            when = feature_row[feature_time]
            if not now - ttl <= when <= now:
                continue
            if chosen is None or when >= chosen[feature_time]:  # >=: on a tie the later row wins
                chosen = feature_row
        out = dict(spine_row)
        for source, target in columns.items():
            out[target] = None if chosen is None else chosen[source]
        joined.append(out)
    return joined


def join(spine: pl.DataFrame, features: pl.DataFrame, layout: Layout, ttl: timedelta, spine_time: str) -> pl.DataFrame:
    return join_as_of(
        spine,
        features,
        keys=layout.key_names,
        spine_time=spine_time,
        feature_time=TIME,
        ttl=ttl,
        columns=layout.columns,
    )


def expected(spine: pl.DataFrame, features: pl.DataFrame, layout: Layout, ttl: timedelta, spine_time: str) -> list[Row]:
    return oracle(
        spine.to_dicts(),
        features.to_dicts(),
        keys=layout.key_names,
        spine_time=spine_time,
        feature_time=TIME,
        ttl=ttl,
        columns=layout.columns,
    )


def feature_frame(rows: Sequence[Row], layout: Layout) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=layout.schema)


@st.composite
def feature_frames(draw: st.DrawFn, layout: Layout, max_rows: int = 40) -> pl.DataFrame:
    """Rows in random order; several per entity, often sharing a time; ``fid`` is the row's position."""
    size = draw(st.integers(0, max_rows))
    busy = draw(st.lists(st.integers(0, SLOTS - 1), min_size=1, max_size=4))  # slots many rows share
    drawn = draw(
        st.lists(
            st.tuples(
                st.tuples(*(st.sampled_from(values) for values in layout.keys.values())),
                st.sampled_from(busy) | st.integers(0, SLOTS - 1),
                st.none() | st.integers(-1000, 1000).map(float),
            ),
            min_size=size,
            max_size=size,
        )
    )
    rows = [
        {**dict(zip(layout.keys, key, strict=True)), TIME: at(slot), "score": score, "fid": i}
        for i, (key, slot, score) in enumerate(drawn)
    ]
    return feature_frame(rows, layout)


@st.composite
def spines(
    draw: st.DrawFn, spine_time: str, anchors: Sequence[Row] = (), ttls: Sequence[timedelta] = ()
) -> pl.DataFrame:
    """Spine rows with a label, in random order, some duplicated.

    Free rows take any entity (including ones without features) at a nudged grid time; anchored
    rows copy a feature row's keys and sit exactly at its time, one microsecond before it, or at,
    just inside or just beyond its TTL boundary.
    """
    keys = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SPINE_DOMAINS.items()})
    free = st.builds(
        lambda key, slot, nudge: {**key, spine_time: at(slot) + nudge},
        keys,
        st.integers(-2, SLOTS + 8),
        st.sampled_from(NUDGES),
    )
    offsets = [timedelta(0), -US, *(o for ttl in ttls for o in (ttl, ttl - US, ttl + US))]
    options = [free]
    if anchors:
        anchored = st.builds(
            lambda key, anchor, offset: {
                **key,
                **{k: anchor[k] for k in SPINE_DOMAINS if k in anchor},
                spine_time: anchor[TIME] + offset,
            },
            keys,
            st.sampled_from(list(anchors)),
            st.sampled_from(offsets),
        )
        options.append(anchored)
    rows = draw(st.lists(st.one_of(options), max_size=25))
    rows = [{**row, "label": i} for i, row in enumerate(rows)]
    if rows:
        rows += draw(st.lists(st.sampled_from(rows), max_size=5))  # exact duplicates, labels included
    rows = draw(st.permutations(rows))
    schema = {**KEY_DTYPES, spine_time: UTC_US, "label": pl.Int64()}
    return pl.DataFrame(rows, schema=schema)


ttls = st.integers(1, 8).map(lambda steps: steps * STEP)
spine_times = st.sampled_from(["label_time", TIME])  # the spine may reuse the feature time's name


@dataclass(frozen=True)
class Case:
    spine: pl.DataFrame
    features: pl.DataFrame
    layout: Layout
    ttl: timedelta
    spine_time: str


@st.composite
def cases(draw: st.DrawFn, layouts: Sequence[Layout] = LAYOUTS) -> Case:
    layout = draw(st.sampled_from(list(layouts)))
    ttl = draw(ttls)
    spine_time = draw(spine_times)
    features = draw(feature_frames(layout))
    spine = draw(spines(spine_time, features.to_dicts(), [ttl]))
    return Case(spine, features, layout, ttl, spine_time)


def python_sorted(frame: pl.DataFrame, keys: Sequence[str], *, by_day: bool) -> pl.DataFrame:
    """A stable sort in plain Python: by keys then time, or by UTC day, then keys, then time."""

    def order(row: Row) -> tuple[Any, ...]:
        when: datetime = row[TIME]
        head = (when.astimezone(UTC).date(),) if by_day else ()
        return (*head, *(row[k] for k in keys), when)

    return pl.DataFrame(sorted(frame.to_dicts(), key=order), schema=frame.schema)


# --- join_as_of ------------------------------------------------------------------------------


def test_worked_example() -> None:
    """The semantics on a hand-checked case, before the properties generalize it."""
    features = feature_frame(
        [
            {"customer_id": "c1", TIME: at(2), "score": 1.0, "fid": 0},
            {"customer_id": "c1", TIME: at(0), "score": 2.0, "fid": 1},
            {"customer_id": "c1", TIME: at(2), "score": 3.0, "fid": 2},  # same time as fid 0, later in the frame
            {"customer_id": "c2", TIME: at(5), "score": None, "fid": 3},
        ],
        CUSTOMER,
    )
    spine_rows = [
        ("c1", at(2)),  # exactly at a (tied) feature time -> fid 2
        ("c1", at(2) - US),  # just before it -> fid 1
        ("c1", at(0) - US),  # before any history -> null
        ("c1", at(5)),  # exactly at the TTL boundary of fid 2 -> fid 2
        ("c1", at(5) + US),  # one microsecond beyond it -> null
        ("c2", at(5)),  # a row whose value is null -> fid 3, score null
        ("c9", at(5)),  # an entity without features -> null
        ("c1", at(2)),  # duplicated spine row
    ]
    spine = pl.DataFrame(
        [{"customer_id": c, "merchant_id": 1, "label_time": t, "label": i} for i, (c, t) in enumerate(spine_rows)],
        schema={**KEY_DTYPES, "label_time": UTC_US, "label": pl.Int64()},
    )
    joined = join(spine, features, CUSTOMER, 3 * STEP, "label_time")
    assert joined["cust_fid"].to_list() == [2, 1, None, 2, None, 3, None, 2]
    assert joined["cust_score"].to_list() == [3.0, 2.0, None, 3.0, None, None, None, 3.0]
    assert joined.to_dicts() == expected(spine, features, CUSTOMER, 3 * STEP, "label_time")


@PROPERTY
@given(case=cases())
def test_join_as_of_equals_the_oracle(case: Case) -> None:
    joined = join(case.spine, case.features, case.layout, case.ttl, case.spine_time)

    assert joined.columns == [*case.spine.columns, *case.layout.columns.values()]
    assert joined.select(case.spine.columns).equals(case.spine)  # order, duplicates and labels kept
    assert joined.schema[case.layout.columns["score"]] == pl.Float64()
    assert joined.schema[case.layout.columns["fid"]] == pl.Int64()
    assert joined.to_dicts() == expected(case.spine, case.features, case.layout, case.ttl, case.spine_time)


@PROPERTY
@given(case=cases())
def test_a_spine_already_in_time_order_joins_like_the_oracle_and_passes_through_untouched(case: Case) -> None:
    """The path without any permutation: the spine goes in time-sorted and comes out as it went in."""
    in_time = case.spine.sort(case.spine_time, maintain_order=True)
    joined = join(in_time, case.features, case.layout, case.ttl, case.spine_time)

    assert joined.select(in_time.columns).equals(in_time)  # labels, duplicates and order kept
    assert joined.to_dicts() == expected(in_time, case.features, case.layout, case.ttl, case.spine_time)


@PROPERTY
@given(
    case=cases(),
    zone=st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata"]),
)
def test_spine_time_zone_does_not_change_the_features(case: Case, zone: str) -> None:
    """The same instants written in another zone (crossing different midnights) join the same rows."""
    zoned = case.spine.with_columns(pl.col(case.spine_time).dt.convert_time_zone(zone))
    columns = list(case.layout.columns.values())
    in_utc = join(case.spine, case.features, case.layout, case.ttl, case.spine_time)
    in_zone = join(zoned, case.features, case.layout, case.ttl, case.spine_time)
    assert in_zone.select(columns).equals(in_utc.select(columns))
    assert in_zone[case.spine_time].equals(zoned[case.spine_time])


@st.composite
def multi_cases(draw: st.DrawFn) -> tuple[pl.DataFrame, list[tuple[Layout, pl.DataFrame, timedelta]], str]:
    spine_time = draw(spine_times)
    sets = [(layout, draw(feature_frames(layout, max_rows=30)), draw(ttls)) for layout in LAYOUTS]
    anchors = [row for _, frame, _ in sets for row in frame.to_dicts()]
    spine = draw(spines(spine_time, anchors, [ttl for _, _, ttl in sets]))
    return spine, sets, spine_time


@PROPERTY
@given(case=multi_cases())
def test_several_feature_sets_joined_in_sequence_equal_the_oracle_per_set(
    case: tuple[pl.DataFrame, list[tuple[Layout, pl.DataFrame, timedelta]], str],
) -> None:
    """Customer (string key), merchant (integer key) and customer x merchant (two-column key)."""
    spine, sets, spine_time = case
    joined, rows = spine, spine.to_dicts()
    for layout, features, ttl in sets:
        joined = join(joined, features, layout, ttl, spine_time)
        rows = oracle(
            rows,
            features.to_dicts(),
            keys=layout.key_names,
            spine_time=spine_time,
            feature_time=TIME,
            ttl=ttl,
            columns=layout.columns,
        )
    assert joined.columns == [*spine.columns, *(c for layout, _, _ in sets for c in layout.columns.values())]
    assert joined.to_dicts() == rows


@PROPERTY
@given(case=cases(), data=st.data())
def test_rows_after_a_spine_time_never_change_that_rows_features(case: Case, data: st.DataObject) -> None:
    """Metamorphic: insert rows, anywhere in the frame, strictly later than some spine rows."""
    spine_rows = case.spine.to_dicts()
    if not spine_rows:
        return
    keys = case.layout.key_names
    after = st.sampled_from([US, STEP, 3 * STEP]) | st.integers(1, 10).map(lambda s: s * STEP + US)
    extras = data.draw(
        st.lists(
            st.builds(
                lambda anchor, delay, score: (anchor, anchor[case.spine_time] + delay, score),
                st.sampled_from(spine_rows),
                after,
                st.integers(-5, 5).map(float),
            ),
            min_size=1,
            max_size=10,
        ),
        label="extras",
    )
    offset = case.features.height
    added = feature_frame(
        [
            {**{k: anchor[k] for k in keys}, TIME: when, "score": score, "fid": offset + i}
            for i, (anchor, when, score) in enumerate(extras)
        ],
        case.layout,
    )
    order = list(range(offset))  # the original rows keep their relative order: it breaks their ties
    for extra in range(added.height):
        order.insert(data.draw(st.integers(0, len(order)), label="position"), offset + extra)
    grown = pl.concat([case.features, added])[order]

    before = join(case.spine, case.features, case.layout, case.ttl, case.spine_time).to_dicts()
    now = join(case.spine, grown, case.layout, case.ttl, case.spine_time).to_dicts()
    checked = 0
    for old, new, row in zip(before, now, spine_rows, strict=True):
        same_entity = [when for anchor, when, _ in extras if all(anchor[k] == row[k] for k in keys)]
        if all(when > row[case.spine_time] for when in same_entity):
            assert new == old
            checked += 1
    # every extra row is later than its anchor, so the earliest spine rows are always checked
    assert checked >= 1


# --- ensure_time_order -----------------------------------------------------------------------


@PROPERTY
@given(layout=st.sampled_from(LAYOUTS), data=st.data())
def test_ensure_time_order_yields_ascending_times_per_entity_and_keeps_ties_in_frame_order(
    layout: Layout, data: st.DataObject
) -> None:
    frame = data.draw(feature_frames(layout), label="frame")
    ordered = ensure_time_order(frame, layout.key_names, TIME)

    assert sorted(ordered.to_dicts(), key=lambda r: r["fid"]) == frame.to_dicts()  # a permutation of the rows
    latest: dict[tuple[object, ...], Row] = {}
    for row in ordered.iter_rows(named=True):
        entity = tuple(row[k] for k in layout.key_names)
        previous = latest.get(entity)
        if previous is not None:
            assert previous[TIME] <= row[TIME]
            if previous[TIME] == row[TIME]:
                assert previous["fid"] < row["fid"]  # ties stay in frame order: the last one must win
        latest[entity] = row


@PROPERTY
@given(layout=st.sampled_from(LAYOUTS), by_day=st.booleans(), data=st.data())
def test_ensure_time_order_returns_frames_already_in_a_layout_as_they_are(
    layout: Layout, by_day: bool, data: st.DataObject
) -> None:
    frame = python_sorted(data.draw(feature_frames(layout), label="frame"), layout.key_names, by_day=by_day)
    assert ensure_time_order(frame, layout.key_names, TIME) is frame


@PROPERTY
@given(case=cases())
def test_day_layout_fast_path_joins_like_a_fully_sorted_frame(case: Case) -> None:
    """Tables are read day by day, each file sorted by entity and time: joined without a re-sort."""
    keys = case.layout.key_names
    by_day = python_sorted(case.features, keys, by_day=True)
    by_key = python_sorted(case.features, keys, by_day=False)
    assert ensure_time_order(by_day, keys, TIME) is by_day

    from_days = join(case.spine, by_day, case.layout, case.ttl, case.spine_time)
    from_keys = join(case.spine, by_key, case.layout, case.ttl, case.spine_time)
    assert from_days.equals(from_keys)
    assert from_days.to_dicts() == expected(case.spine, case.features, case.layout, case.ttl, case.spine_time)


@PROPERTY
@given(layout=st.sampled_from(LAYOUTS), cuts=st.lists(st.integers(0, 40), max_size=3), data=st.data())
def test_runs_sorted_by_entity_and_time_that_follow_in_time_are_returned_as_they_are(
    layout: Layout, cuts: list[int], data: st.DataObject
) -> None:
    """A month or a whole write per file, sorted by entity and time, files in time order: no sort needed."""
    frame = data.draw(feature_frames(layout), label="frame")
    bounds = sorted({at(slot) for slot in cuts})
    period = pl.lit(0)
    for bound in bounds:
        period = period + (pl.col(TIME) >= bound).cast(pl.Int32)
    runs = [
        python_sorted(part, layout.key_names, by_day=False)
        for _, part in sorted(frame.with_columns(period.alias("run")).group_by("run"), key=lambda g: g[0])
    ]
    laid_out = pl.concat(runs).drop("run") if runs else frame
    assert ensure_time_order(laid_out, layout.key_names, TIME) is laid_out


def test_runs_whose_times_overlap_are_sorted() -> None:
    """Two runs each sorted by entity and time, the second reaching back before the first: c1 would go 5, 1."""
    rows = [("c1", 5), ("c2", 6), ("c1", 1), ("c3", 2)]
    frame = feature_frame(
        [{"customer_id": c, TIME: at(slot), "score": None, "fid": i} for i, (c, slot) in enumerate(rows)], CUSTOMER
    )
    assert ensure_time_order(frame, ("customer_id",), TIME)["fid"].to_list() == [2, 3, 0, 1]


def test_a_frame_out_of_every_order_is_sorted_by_time_alone_keeping_table_order_for_ties() -> None:
    """Neither layout nor time order: one stable integer sort by time, never a sort by the string keys."""
    rows = [("c2", 20), ("c1", 1), ("c2", 0), ("c1", 21), ("c2", 2), ("c1", 3), ("c1", 3)]
    frame = feature_frame(
        [{"customer_id": c, TIME: at(slot), "score": None, "fid": i} for i, (c, slot) in enumerate(rows)],
        CUSTOMER,
    )
    ordered = ensure_time_order(frame, ("customer_id",), TIME)
    assert ordered["fid"].to_list() == [2, 1, 4, 5, 6, 0, 3]  # times ascend; the tied c1 rows keep 5 before 6


def test_a_frame_in_time_order_is_kept_as_it_is() -> None:
    """Entities interleaved in time order: times already ascend within every entity."""
    frame = feature_frame(
        [
            {"customer_id": c, TIME: at(slot), "score": None, "fid": i}
            for i, (c, slot) in enumerate([("c2", 0), ("c1", 1), ("c2", 2), ("c1", 3), ("c2", 20), ("c1", 21)])
        ],
        CUSTOMER,
    )
    assert ensure_time_order(frame, ("customer_id",), TIME)["fid"].to_list() == [0, 1, 2, 3, 4, 5]


# --- check_spine -----------------------------------------------------------------------------


def _spine(**columns: pl.Series) -> pl.DataFrame:
    base = {
        "customer_id": pl.Series(["c1", "c2"], dtype=pl.String()),
        "label_time": pl.Series([at(0), at(1)], dtype=UTC_US),
        "label": pl.Series([0, 1], dtype=pl.Int64()),
    }
    return pl.DataFrame({**base, **columns})


def test_check_spine_accepts_a_good_spine() -> None:
    check_spine(_spine(), ("customer_id",), "label_time", "here")


@pytest.mark.parametrize(
    ("spine", "keys", "column", "words"),
    [
        pytest.param(_spine().drop("customer_id"), ("customer_id",), "customer_id", "lacks", id="missing key"),
        pytest.param(_spine().drop("label_time"), ("customer_id",), "label_time", "lacks", id="missing time"),
        pytest.param(
            _spine().with_columns(pl.lit(1).alias("merchant_id")),
            ("customer_id", "merchant_id", "terminal_id"),
            "terminal_id",
            "lacks",
            id="missing second key",
        ),
        pytest.param(
            _spine(customer_id=pl.Series(["c1", None], dtype=pl.String())),
            ("customer_id",),
            "customer_id",
            "null",
            id="null key",
        ),
        pytest.param(
            _spine(label_time=pl.Series([at(0), None], dtype=UTC_US)),
            ("customer_id",),
            "label_time",
            "null",
            id="null time",
        ),
        pytest.param(
            _spine(label_time=pl.Series([at(0).replace(tzinfo=None), at(1).replace(tzinfo=None)])),
            ("customer_id",),
            "label_time",
            "time-zone-aware",
            id="naive datetime",
        ),
        pytest.param(
            _spine(label_time=pl.Series([at(0).date(), at(1).date()])),
            ("customer_id",),
            "label_time",
            "time-zone-aware",
            id="date, not datetime",
        ),
        pytest.param(
            _spine(label_time=pl.Series(["2026-11-01T20:00:00Z", "2026-11-01T22:00:00Z"])),
            ("customer_id",),
            "label_time",
            "time-zone-aware",
            id="text, not datetime",
        ),
    ],
)
def test_check_spine_names_the_offending_column(
    spine: pl.DataFrame, keys: tuple[str, ...], column: str, words: str
) -> None:
    with pytest.raises(SpineError, match=rf"^training set with toy:v1: .*{column}.*") as raised:
        check_spine(spine, keys, "label_time", "training set with toy:v1")
    assert words in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_nanosecond_spine_is_not_truncated_into_the_ttl() -> None:
    features = pl.DataFrame({"k": ["a"], "t": [T0], "v": [1]}, schema={"k": pl.String, "t": UTC_US, "v": pl.Int64})
    at_bound = pl.DataFrame(
        {"k": ["a", "a"], "ts": [T0 + timedelta(hours=2)] * 2}, schema={"k": pl.String, "ts": UTC_US}
    )
    spine = at_bound.with_columns(
        pl.col("ts").dt.cast_time_unit("ns") + pl.Series([0, 1]).cast(pl.Int64) * pl.duration(nanoseconds=1)
    )

    out = join_as_of(
        spine, features, keys=("k",), spine_time="ts", feature_time="t", ttl=timedelta(hours=2), columns={"v": "v"}
    )

    assert out["v"].to_list() == [1, None]  # exactly at T - ttl: in; one nanosecond beyond: out
    assert out["ts"].dtype == pl.Datetime("ns", "UTC")  # the spine's own column is untouched


def test_null_feature_times_are_never_taken_for_an_order() -> None:
    features = pl.DataFrame(
        {"k": ["a"] * 3, "t": [T0 + timedelta(hours=2), None, T0], "v": [1, 2, 3]},
        schema={"k": pl.String, "t": UTC_US, "v": pl.Int64},
    )
    spine = pl.DataFrame({"k": ["a"], "ts": [T0 + timedelta(hours=2)]}, schema={"k": pl.String, "ts": UTC_US})

    assert ensure_time_order(features, ("k",), "t") is not features
    out = join_as_of(
        spine, features, keys=("k",), spine_time="ts", feature_time="t", ttl=timedelta(hours=3), columns={"v": "v"}
    )
    assert out["v"].to_list() == [1]


def test_check_spine_names_a_key_whose_type_differs_from_the_table() -> None:
    spine = pl.DataFrame({"k": [1], "ts": [T0]}, schema={"k": pl.Int64, "ts": UTC_US})
    with pytest.raises(SpineError, match=r"spine column 'k' is Int64 but the feature table's is String; cast it"):
        check_spine(spine, ("k",), "ts", "training set with toy:v1", key_types={"k": pl.String()})

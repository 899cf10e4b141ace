"""point_in_time_join: as-of, never future, TTL-bounded; checked by hand and by an oracle."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from featurelake.core.featureset import Feature, FeatureSet
from featurelake.training import PinnedFeatures, build_training_set, point_in_time_join

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)
TTL = timedelta(days=2)
UTC_US = pl.Datetime("us", "UTC")

SPEC = FeatureSet(
    name="toy",
    version=3,
    entity="customer_id",
    event_time="event_time",
    source="transactions",
    features=(Feature("score", pl.col("amount"), pl.Float64(), "toy score"),),
    description="one-feature toy set for join tests",
    owner="tests",
    ttl=TTL,
)


def _features(rows: list[tuple[str, datetime, float]]) -> PinnedFeatures:
    frame = pl.DataFrame(
        rows,
        schema={"customer_id": pl.String, "event_time": UTC_US, "score": pl.Float64},
        orient="row",
    )
    return PinnedFeatures(SPEC, frame, "memory://features/toy/v3", delta_version=5)


def _spine(rows: Sequence[tuple[str | None, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "label_time": UTC_US}, orient="row").with_columns(
        pl.int_range(pl.len()).alias("label")
    )


def _scores(spine: pl.DataFrame, pinned: PinnedFeatures) -> list[float | None]:
    out = point_in_time_join(spine, pinned, "label_time")
    return out["score"].to_list()


HISTORY = _features([("A", T0, 1.0), ("A", T0 + 2 * H, 2.0), ("A", T0 + 4 * H, 3.0)])


def test_never_takes_a_future_row() -> None:
    spine = _spine([("A", T0 + H), ("A", T0 + 3 * H), ("A", T0 + 2 * H - timedelta(microseconds=1))])
    assert _scores(spine, HISTORY) == [1.0, 2.0, 1.0]


def test_takes_a_row_at_exactly_the_spine_time() -> None:
    spine = _spine([("A", T0), ("A", T0 + 2 * H), ("A", T0 + 4 * H)])
    assert _scores(spine, HISTORY) == [1.0, 2.0, 3.0]


def test_before_any_history_is_null() -> None:
    spine = _spine([("A", T0 - timedelta(microseconds=1))])
    assert _scores(spine, HISTORY) == [None]


def test_row_older_than_ttl_is_null() -> None:
    last = T0 + 4 * H
    spine = _spine([("A", last + TTL - H), ("A", last + TTL + H), ("A", last + 30 * TTL)])
    assert _scores(spine, HISTORY) == [3.0, None, None]


def test_entity_without_history_is_null() -> None:
    spine = _spine([("B", T0 + H), ("A", T0 + H), (None, T0 + H)])
    assert _scores(spine, HISTORY) == [None, 1.0, None]


def test_spine_order_and_columns_are_preserved() -> None:
    spine = _spine([("A", T0 + 5 * H), ("B", T0), ("A", T0 + H), ("A", T0 + 3 * H)])
    out = point_in_time_join(spine, HISTORY, "label_time")
    assert out.columns == ["customer_id", "label_time", "label", "score"]
    assert out["label"].to_list() == [0, 1, 2, 3]
    assert out["label_time"].to_list() == spine["label_time"].to_list()
    assert out["score"].to_list() == [3.0, None, 1.0, 2.0]


def test_entities_do_not_leak_into_each_other() -> None:
    pinned = _features([("A", T0, 1.0), ("B", T0 + H, 9.0)])
    spine = _spine([("A", T0 + 2 * H), ("B", T0 + 2 * H), ("B", T0)])
    assert _scores(spine, pinned) == [1.0, 9.0, None]


def test_build_training_set_manifest_names_the_pinned_version() -> None:
    spine = _spine([("A", T0 + H)])
    training = build_training_set(spine, [HISTORY], "label_time")
    assert training.feature_columns == ["score"]
    assert training.frame["score"].to_list() == [1.0]
    assert training.manifest == {
        "spine_rows": 1,
        "feature_sets": [
            {
                "feature_set": "toy",
                "version": 3,
                "table_uri": "memory://features/toy/v3",
                "delta_version": 5,
                "features": ["score"],
            }
        ],
    }


def _oracle(
    spine: list[tuple[str, datetime]], history: list[tuple[str, datetime, float]], ttl: timedelta = TTL
) -> list[float | None]:
    """For each spine row at t: the value of the latest same-entity row with t - ttl <= time <= t."""
    answers: list[float | None] = []
    for entity, at in spine:
        best: tuple[datetime, float] | None = None
        for other, when, value in history:
            in_range = other == entity and when <= at and at - when <= ttl
            if in_range and (best is None or when > best[0]):
                best = (when, value)
        answers.append(None if best is None else best[1])
    return answers


def test_matches_brute_force_oracle_on_random_data() -> None:
    rng = random.Random(20261101)
    entities = [f"c{i}" for i in range(5)]
    span_minutes = 150 * 24 * 60  # ~100 rows per entity over 150 days: gaps often exceed the 2-day TTL

    def instant() -> datetime:
        return T0 + timedelta(minutes=rng.randrange(span_minutes), seconds=rng.randrange(60))

    keyed: dict[tuple[str, datetime], float] = {}
    while len(keyed) < 500:  # (entity, event time) is the key of a feature table
        keyed[(rng.choice(entities), instant())] = round(rng.uniform(0, 1000), 2)
    history = [(e, t, v) for (e, t), v in keyed.items()]
    rng.shuffle(history)
    spine = [(rng.choice(entities), instant()) for _ in range(200)]
    # spine rows exactly on a feature time, and just inside and outside its TTL
    spine += [(e, t) for e, t, _ in history[:5]]
    spine += [(e, t + TTL) for e, t, _ in history[5:10]]
    spine += [(e, t + TTL + timedelta(seconds=1)) for e, t, _ in history[10:15]]

    got = _scores(_spine(spine), _features(history))
    expected = _oracle(spine, history)
    assert len(got) == len(spine)
    mismatches = [(i, g, e) for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
    assert mismatches == []
    # the case mix exercises hits, no history at all, and history that the TTL hides
    without_ttl = _oracle(spine, history, ttl=timedelta(days=10_000))
    stale = sum(e is None and w is not None for e, w in zip(expected, without_ttl, strict=True))
    assert sum(e is not None for e in expected) > 100
    assert stale >= 10

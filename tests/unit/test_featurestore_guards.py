"""FeatureStore refuses ambiguous requests instead of guessing: stray pins, empty spines, two pins at once.

Also: lookups as of a time honour the TTL like training sets do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from featurelake.core.contracts import SourceContract
from featurelake.core.featureset import Feature, FeatureSet
from featurelake.core.pointintime import SpineError
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings
from tests.catalogs.toy import SOURCE, UTC_US, toy_spec

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SPEC = toy_spec()


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    lake = DeltaStore(Settings(lake_uri=str(tmp_path)))
    rows = pl.DataFrame(
        {"user_id": ["a", "a", "b"], "event_time": [T0, T0 + timedelta(days=1), T0], "score": [1.0, 2.0, 3.0]},
        schema={"user_id": pl.String, "event_time": UTC_US, "score": pl.Float64},
    )
    write_feature_table(lake, SPEC, rows, metadata={})
    write_feature_table(lake, SPEC, rows.with_columns(pl.col("score") * 10), metadata={})
    return FeatureStore(lake, [SPEC])


def _spine(*times: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": ["a"] * len(times), "event_time": list(times)}, schema={"user_id": pl.String, "event_time": UTC_US}
    )


def test_pins_are_normalised_and_a_stray_pin_is_an_error(store: FeatureStore) -> None:
    spine = _spine(T0 + timedelta(days=1))
    pinned = store.get_training_set(spine, ["toy:v1:score"], pins={" toy:v1:score ": 0})
    assert pinned.manifest["feature_sets"][0]["delta_version"] == 0
    assert pinned.frame["score"].to_list() == [2.0]
    with pytest.raises(
        ValueError, match=r"pin\(s\) for \['other:v1'\] match no requested feature set; requested: \['toy:v1'\]"
    ):
        store.get_training_set(spine, ["toy:v1"], pins={"other:v1": 0})


def test_an_empty_spine_is_refused_with_a_message(store: FeatureStore) -> None:
    with pytest.raises(SpineError, match="the spine has no rows"):
        store.get_training_set(_spine(), ["toy:v1"])


def test_a_spine_without_its_time_column_is_told_how_to_name_another(store: FeatureStore) -> None:
    spine = _spine(T0).rename({"event_time": "label_time"})
    with pytest.raises(
        SpineError, match=r"no time column 'event_time' .*label_time.*spine_time= \(CLI: --spine-time\)"
    ):
        store.get_training_set(spine, ["toy:v1"])
    assert store.get_training_set(spine, ["toy:v1"], spine_time="label_time").frame["score"].to_list() == [10.0]


TIME = pl.col("event_time")


@pytest.mark.parametrize(
    ("times", "advice", "fix"),
    [
        pytest.param(
            ["2026-11-01T00:00:00Z"],
            "pl.col('event_time').str.to_datetime(time_zone='UTC')",
            TIME.str.to_datetime(time_zone="UTC"),
            id="text",
        ),
        pytest.param(
            [T0.replace(tzinfo=None)],
            "pl.col('event_time').dt.replace_time_zone('UTC')",
            TIME.dt.replace_time_zone("UTC"),
            id="naive",
        ),
        pytest.param(
            [T0.date()],
            "pl.col('event_time').cast(pl.Datetime('us', 'UTC'))",
            TIME.cast(pl.Datetime("us", "UTC")),
            id="date",
        ),
        pytest.param(
            [1_793_491_200],
            "pl.from_epoch('event_time', time_unit='s').dt.replace_time_zone('UTC')",
            pl.from_epoch("event_time", time_unit="s").dt.replace_time_zone("UTC"),
            id="epoch seconds",
        ),
    ],
)
def test_a_spine_time_column_of_another_type_is_told_how_to_convert_it(
    store: FeatureStore, times: list[object], advice: str, fix: pl.Expr
) -> None:
    spine = pl.DataFrame({"user_id": ["a"], "event_time": times})
    with pytest.raises(SpineError, match="time-zone-aware") as refused:
        store.get_training_set(spine, ["toy:v1"])

    assert advice in str(refused.value)
    assert store.get_training_set(spine.with_columns(fix), ["toy:v1"]).frame.height == 1  # the advice works


def test_a_read_takes_a_version_or_a_time_not_both(store: FeatureStore) -> None:
    with pytest.raises(ValueError, match="pass a Delta version or a time"):
        store.read("toy:v1", delta_version=0, as_of=datetime.now(UTC))


def test_lookup_as_of_ignores_later_rows_and_nulls_values_past_the_ttl(store: FeatureStore) -> None:
    entities = pl.DataFrame({"user_id": ["a", "b", "nobody"]})

    latest = store.lookup(entities, ["toy:v1"])
    then = store.lookup(entities, ["toy:v1"], as_of=T0 + timedelta(hours=12))
    stale = store.lookup(entities, ["toy:v1"], as_of=T0 + timedelta(days=2, hours=12))

    assert latest["score"].to_list() == [20.0, 30.0, None]
    assert then["score"].to_list() == [10.0, 30.0, None]  # a's row of day 2 is after as_of
    assert stale["score"].to_list() == [20.0, None, None]  # b's only row is older than the 2-day TTL
    assert stale["toy__v1__event_time"].to_list()[:2] == [T0 + timedelta(days=1), T0]


def test_specs_must_read_enough_history_and_use_aware_times() -> None:
    window = Feature("s", pl.col("score").rolling_sum_by("event_time", "9d"), pl.Float64(), "9-day sum")
    with pytest.raises(ValueError, match=r"feature 's' reads a 9 days, 0:00:00 window but lookback is 7 days"):
        FeatureSet("w", 1, ("user_id",), "event_time", SOURCE, (window,), "d", "o")
    dated = SourceContract("daily", {"user_id": pl.String(), "day": pl.Date()}, ("user_id",), ("user_id",), "day")
    with pytest.raises(ValueError, match=r"event time 'day' is Date; it must be a time-zone-aware Datetime"):
        FeatureSet("d", 1, ("user_id",), "day", dated, (), "d", "o")

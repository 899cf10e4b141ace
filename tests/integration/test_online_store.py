"""The online store serves what the offline store holds: parity with ``lookup`` at the materialized version.

Real DynamoDB API (the moto server the suite starts), real Delta tables on its S3. Publishes
replace whole tables or single days, with late and out-of-order rows, a rollback (an older
table written again) and values past the TTL; after every materialization each entity's online
answer equals ``lookup`` pinned at that version, as of the same request time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from featurelake.core import commits
from featurelake.io.aws.online_lease import LeaseLostError
from featurelake.io.aws.online_store import OnlineStore, newer
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.serve.materialize import materialize
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

T0 = datetime(2026, 3, 1, tzinfo=UTC)
USERS = [f"u{i}" for i in range(6)]
_publish_counter = iter(range(1, 1_000_000))
Row = tuple[str, int, float]

# One publish: rows as (user, hours after T0, score); a day to replace (None: the whole table).
_row = st.tuples(st.sampled_from(USERS[:5]), st.integers(0, 24 * 4 - 1), st.floats(-1e3, 1e3, allow_nan=False))
_publish = st.tuples(st.lists(_row, min_size=1, max_size=12), st.none() | st.integers(0, 3))


def _frame(rows: list[Row]) -> pl.DataFrame:
    unique = {(u, h): s for u, h, s in rows}  # one row per entity and time, as builds publish them
    return pl.DataFrame(
        {
            "user_id": [u for u, _ in unique],
            "event_time": [T0 + timedelta(hours=h) for _, h in unique],
            "score": list(unique.values()),
        },
        schema={"user_id": pl.String, "event_time": UTC_US, "score": pl.Float64},
    )


def _publish_rows(store: DeltaStore, spec_name: str, rows: pl.DataFrame, day: int | None) -> int:
    spec = toy_spec(spec_name)
    metadata = commits.publish_metadata(spec.ref, next(_publish_counter), {}, rows=rows.height)
    if day is None:
        return write_feature_table(store, spec, rows, metadata=metadata)
    when = (T0 + timedelta(days=day)).date()
    in_day = rows.filter(pl.col("event_time").dt.date() == when)
    return write_feature_table(store, spec, in_day, metadata=metadata, days=(when, when))


def _assert_parity(features: FeatureStore, ref: str, version: int, at: datetime) -> None:
    entities = pl.DataFrame({"user_id": [*USERS, USERS[0]]})  # an unknown entity and a duplicate
    online = features.get_online_features(entities, [ref], at=at)
    offline = features.lookup(entities, [ref], pins={ref: version}, as_of=at)
    prefix = ref.replace(":v", "__v").split(":")[0] + "__"
    shared = ["user_id", "score"]
    assert_frame_equal(online.select(shared), offline.select(shared))
    served = online.filter(pl.col(f"{prefix}status") != "unknown_entity")
    # An item names the version it was last written at: a later commit that left it alone leaves it so.
    assert (served[f"{prefix}delta_version"] <= version).all()
    known = offline.filter(pl.col(f"{prefix}event_time").is_not_null())
    assert sorted(known["user_id"].to_list()) == sorted(served["user_id"].to_list())


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(publishes=st.lists(_publish, min_size=1, max_size=4), rollback=st.booleans(), late_hours=st.integers(0, 80))
def test_online_values_equal_lookup_at_the_materialized_version(
    settings: Settings, publishes: list[tuple[list[Row], int | None]], rollback: bool, late_hours: int
) -> None:
    store, name = DeltaStore(settings), f"parity{next(_publish_counter)}"
    spec, online = toy_spec(name), OnlineStore(settings)
    features = FeatureStore(store, [spec], online=online)
    first = _publish_rows(store, name, _frame(publishes[0][0]), None)
    versions = [first]
    materialize(store, online, spec)
    for rows, day in publishes[1:]:
        versions.append(_publish_rows(store, name, _frame(rows), day))
        materialize(store, online, spec)  # incremental: only the entities the commit touched
    if rollback:  # the first table written again: entities added since are tombstoned
        versions.append(_publish_rows(store, name, _frame(publishes[0][0]), None))
        materialize(store, online, spec)
    at = T0 + timedelta(days=4, hours=late_hours)  # from "everything fresh" to "most of it past the 2-day TTL"
    _assert_parity(features, spec.ref, versions[-1], at)


def test_an_older_version_arriving_late_changes_nothing_and_reruns_converge(settings: Settings) -> None:
    store, spec, online = DeltaStore(settings), toy_spec("ordering"), OnlineStore(settings)
    old = _publish_rows(store, "ordering", _frame([("u0", 1, 1.0), ("u1", 2, 2.0)]), None)
    new = _publish_rows(store, "ordering", _frame([("u0", 1, 1.0), ("u0", 30, 9.0)]), None)  # u1 gone
    first = materialize(store, online, spec, delta_version=new, mode="full")
    assert (first.items_written, first.tombstones) == (1, 0)
    late = materialize(store, online, spec, delta_version=old, mode="full")
    assert late.items_written == 0
    assert late.items_skipped == late.entities_considered
    again = materialize(store, online, spec, delta_version=new, mode="full")
    assert again.items_skipped == 0  # the same version rewrites the same item: idempotent
    at = T0 + timedelta(days=2)
    features = FeatureStore(store, [spec], online=online)
    _assert_parity(features, spec.ref, new, at)
    answer = features.get_online_features(pl.DataFrame({"user_id": ["u0", "u1"]}), [spec.ref], at=at)
    assert answer["score"].to_list() == [9.0, None]
    assert answer["ordering__v1__status"].to_list() == ["ok", "unknown_entity"]


def test_concurrent_materializations_of_two_versions_converge_on_the_newer(settings: Settings) -> None:
    store, spec = DeltaStore(settings), toy_spec("racing")
    rows = [(u, h, float(h)) for u in USERS[:5] for h in range(0, 40, 7)]
    old = _publish_rows(store, "racing", _frame(rows), None)
    new = _publish_rows(store, "racing", _frame([(u, h + 1, -float(h)) for u, h, _ in rows]), None)
    OnlineStore(settings).ensure_table(spec)
    errors: list[BaseException] = []

    def run(version: int) -> None:
        try:
            materialize(store, OnlineStore(settings), spec, delta_version=version, mode="full")
        except BaseException as error:  # reported below: a thread's exception would vanish
            errors.append(error)

    threads = [threading.Thread(target=run, args=(v,)) for v in (old, new, old, new)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_parity(FeatureStore(store, [spec], online=OnlineStore(settings)), spec.ref, new, T0 + timedelta(days=2))


def test_an_entity_key_of_the_wrong_type_is_refused_with_the_fix(settings: Settings) -> None:
    store, spec = DeltaStore(settings), toy_spec("typed")
    _publish_rows(store, "typed", _frame([("u0", 1, 1.0)]), None)
    features = FeatureStore(store, [spec], online=OnlineStore(settings))
    with pytest.raises(KeyError, match="lacks key column"):
        features.get_online_features(pl.DataFrame({"customer": ["u0"]}), [spec.ref])
    with pytest.raises(ValueError, match=r"key column 'user_id' is Int64 .* cast it first"):
        features.get_online_features(pl.DataFrame({"user_id": [42]}), [spec.ref])
    unknown = features.get_online_features(pl.DataFrame({"user_id": ["u0"]}), [spec.ref], at=T0)
    assert unknown["typed__v1__status"].to_list() == ["unknown_entity"]  # never materialized: no table yet


def test_one_writer_at_a_time_and_a_dead_holders_lease_expires(settings: Settings) -> None:
    online = OnlineStore(settings)
    table = online.ensure_table(toy_spec("leased"))
    busy = pytest.raises(TimeoutError, match="leased by another materialization")
    with online.lease(table), busy:
        online.lease(table, wait=0.3).__enter__()
    with online.lease(table, wait=0.3):  # released on exit: free again
        pass
    dying = online.lease(table, seconds=0.05)
    dying.__enter__()  # never released: its holder "died"
    time.sleep(0.1)  # the lease's own clock: it runs out 50 ms after its last renewal
    with online.lease(table, wait=5.0), pytest.raises(LeaseLostError):  # taken over once expired
        dying.renew()


def test_an_item_replaces_only_an_older_version_or_an_earlier_time_of_the_same() -> None:
    def item(version: int, micros: int) -> dict[str, Any]:
        return {"entity": {"S": '["u"]'}, "delta_version": {"N": str(version)}, "event_time_us": {"N": str(micros)}}

    assert newer(item(3, 5), None)
    assert newer(item(4, 1), item(3, 9))
    assert newer(item(3, 5), item(3, 5))  # the same version again: idempotent
    assert not newer(item(3, 9), item(4, 1))
    assert not newer(item(3, 4), item(3, 5))


def test_a_model_scores_online_features_as_it_scores_the_training_path(settings: Settings) -> None:
    """Training/serving parity end to end: the same entity and time give the same vector and the same score."""
    from sklearn.linear_model import LogisticRegression

    store, spec, online = DeltaStore(settings), toy_spec("scored"), OnlineStore(settings)
    rows = [(u, h, float((i * 37 + h) % 11) - 5.0) for i, u in enumerate(USERS[:5]) for h in range(0, 90, 13)]
    version = _publish_rows(store, "scored", _frame(rows), None)
    materialize(store, online, spec)
    features = FeatureStore(store, [spec], online=online)
    at = T0 + timedelta(days=4)
    spine = pl.DataFrame(
        {"user_id": USERS[:5], "event_time": [at] * 5}, schema={"user_id": pl.String, "event_time": UTC_US}
    )
    trained = features.get_training_set(spine, [spec.ref], pins={spec.ref: version})
    served = features.get_online_features(spine.select("user_id"), [spec.ref], at=at)
    assert_frame_equal(served.select("user_id", "score"), trained.frame.select("user_id", "score"))
    model = LogisticRegression().fit([[-5.0], [-1.0], [1.0], [5.0]], [0, 0, 1, 1])
    offline = model.predict_proba(trained.frame.select("score").fill_null(0.0).to_numpy())[:, 1]
    online_scores = model.predict_proba(served.select("score").fill_null(0.0).to_numpy())[:, 1]
    assert offline.tolist() == online_scores.tolist()

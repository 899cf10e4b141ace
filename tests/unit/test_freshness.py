"""The stale event of a feature set: what the lake says about its last publish (a Delta table in a temp dir)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from featurelake.core import commits, events
from featurelake.core.featureset import compute_features
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.observe import freshness
from featurelake.settings import Settings
from features.customer_txn import CUSTOMER_TXN


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))


def publish(store: DeltaStore, bronze_version: int) -> None:
    source = pl.DataFrame(
        {"customer_id": ["c1", "c2"], "amount": [1.0, 2.0], "event_time": [datetime(2026, 1, 1, tzinfo=UTC)] * 2}
    )
    features = compute_features(CUSTOMER_TXN, source)
    write_feature_table(store, CUSTOMER_TXN, features, metadata={commits.BRONZE_VERSION: str(bronze_version)})


def test_a_never_published_set_is_stale_with_no_last_publish(store: DeltaStore) -> None:
    payload = freshness.stale_payload(store, CUSTOMER_TXN)
    assert payload == events.FeatureSetStale(
        feature_set="customer_txn", feature_set_version=1, max_staleness_seconds=86_400.0
    )


def test_the_payload_names_the_last_publish(store: DeltaStore) -> None:
    publish(store, 3)
    payload = freshness.stale_payload(store, CUSTOMER_TXN)
    assert payload.last_delta_version == store.version(CUSTOMER_TXN.table_path)
    assert payload.last_publish_time is not None
    assert datetime.fromisoformat(payload.last_publish_time).tzinfo is not None


def test_a_set_without_a_limit_is_not_watched(store: DeltaStore) -> None:
    with pytest.raises(ValueError, match="sets no max_staleness"):
        freshness.stale_payload(store, dataclasses.replace(CUSTOMER_TXN, max_staleness=None))


def test_one_stale_stretch_gives_one_event_id(store: DeltaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(freshness, "emit", lambda *args: sent.append(args))
    freshness.announce_stale(store, CUSTOMER_TXN)
    freshness.announce_stale(store, CUSTOMER_TXN)
    publish(store, 3)
    freshness.announce_stale(store, CUSTOMER_TXN)
    names, resources, _, discriminators = zip(*sent, strict=True)
    assert set(names) == {events.FEATURE_SET_STALE}
    assert set(resources) == {"featurelake.feature-set.customer_txn.v1"}
    uri = store.uri(CUSTOMER_TXN.table_path)
    version = store.version(CUSTOMER_TXN.table_path)
    assert discriminators == (f"{uri}@stale-after-None", f"{uri}@stale-after-None", f"{uri}@stale-after-{version}")

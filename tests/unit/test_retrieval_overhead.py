"""What a warm FeatureStore keeps between calls, and what it must still see (issue 16: fixed overhead).

The registry's records are kept per registry version, so a registration committed by someone
else after a call is seen by the next call, and an unchanged registry is not read again. A read
of the latest version decides "is it published?" from the table it already loaded, without
loading it again, and a handle that fell behind a writer never passes a newer commit for its own.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.io.delta import published as publishes
from featurelake.io.delta import registry
from featurelake.io.delta.feature_tables import (
    ensure_check_constraints,
    read_feature_table,
    write_feature_table,
)
from featurelake.io.delta.published import UnpublishedVersionError
from featurelake.io.delta.registry import FeatureRegistry, RegistryMismatchError
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ROWS = pl.DataFrame(
    {"user_id": ["a", "b"], "event_time": [T0, T0 + timedelta(hours=1)], "score": [1.0, 2.0]},
    schema={"user_id": pl.String, "event_time": UTC_US, "score": pl.Float64},
)


SPEC = toy_spec()
CHANGED = toy_spec(expression=pl.col("score") * 2)  # same name and version, other logic: a different fingerprint


def _publish(store: DeltaStore, bronze_version: int = 1) -> int:
    metadata = commits.publish_metadata(SPEC.ref, bronze_version, {}, rows=ROWS.height)
    return write_feature_table(store, SPEC, ROWS, metadata=metadata)


@pytest.fixture
def lake(tmp_path: Path) -> DeltaStore:
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    ensure_check_constraints(store, SPEC, check_constraints(SPEC), ROWS.clear())
    _publish(store)
    return store


def _spine() -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": ["a"], "event_time": [T0 + timedelta(hours=2)]}, schema=ROWS.select("user_id", "event_time").schema
    )


def test_a_registration_made_after_a_call_is_seen_by_the_next_call(lake: DeltaStore) -> None:
    other = dataclasses.replace(SPEC, name="other")
    FeatureRegistry(lake).ensure_registered(other, "rev", actor="test")  # the registry exists, without toy:v1
    api = FeatureStore(lake, [CHANGED])
    assert api.get_training_set(_spine(), [CHANGED.ref]).frame["score"].to_list() == [1.0]
    assert api.lookup(_spine().select("user_id"), [CHANGED.ref]).height == 1

    FeatureRegistry(lake).ensure_registered(SPEC, "rev", actor="test")  # another process registers toy:v1
    mismatch = r"toy:v1: the code's logic \(fingerprint \w+\) differs from the registered one"
    with pytest.raises(RegistryMismatchError, match=mismatch):
        api.get_training_set(_spine(), [CHANGED.ref])
    with pytest.raises(RegistryMismatchError, match=mismatch):
        api.lookup(_spine().select("user_id"), [CHANGED.ref])
    with pytest.raises(RegistryMismatchError, match=mismatch):
        api.read(CHANGED.ref)
    assert FeatureStore(lake, [SPEC]).read(SPEC.ref).frame.height == ROWS.height


def test_an_unchanged_registry_is_read_once(lake: DeltaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    FeatureRegistry(lake).ensure_registered(SPEC, "rev", actor="test")
    reads: list[object] = []
    rows = registry._rows
    monkeypatch.setattr(registry, "_rows", lambda table: reads.append(table) or rows(table))
    api = FeatureStore(lake, [SPEC])
    for _ in range(3):
        api.get_training_set(_spine(), [SPEC.ref])
        api.lookup(_spine().select("user_id"), [SPEC.ref])
    assert len(reads) == 1


def test_a_latest_read_loads_the_feature_table_once(lake: DeltaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    table = DeltaStore.table

    def counted(self: DeltaStore, path: str, *args: object, **kwargs: object) -> object:
        loads.append(path)
        return table(self, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DeltaStore, "table", counted)
    read = read_feature_table(lake, SPEC)
    assert read.frame.height == ROWS.height
    assert loads.count(SPEC.table_path) == 1
    pinned = read_feature_table(lake, SPEC, delta_version=read.delta_version)  # a pin at the latest: one load too
    assert pinned.frame.equals(read.frame)
    assert loads.count(SPEC.table_path) == 2


def test_a_handle_behind_a_writer_never_takes_a_newer_publish_for_its_version(tmp_path: Path) -> None:
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    ensure_check_constraints(store, SPEC, check_constraints(SPEC), ROWS.clear())
    handle = store.existing(SPEC.table_path)  # the empty table, before any publish
    unpublished = handle.version()
    published = _publish(store)  # a writer publishes after the handle was loaded
    # delta-rs 1.6 reads the newest commit (the publish) too, and numbers it as the handle's version.
    assert not publishes._is_publish(store, SPEC, unpublished, handle)
    with pytest.raises(UnpublishedVersionError, match=f"first publish, version {published}"):
        publishes.require_published(store, SPEC, handle, None, is_latest=True)
    fresh = store.existing(SPEC.table_path)
    assert publishes._is_publish(store, SPEC, published, fresh)
    assert publishes._is_publish(store, SPEC, published, None)

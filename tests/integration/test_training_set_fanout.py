"""A training set's slabs fanned out on a local Dask cluster equal the in-memory join, on S3 (moto).

The executor is the one builds use (``FEATURELAKE_BUILD_EXECUTOR=local``): two single-threaded
worker processes, spawned, each re-opening the lake from the settings the jobs carry.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.runners import chunk_mapper
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SPEC = toy_spec()
USERS = [f"u{i}" for i in range(6)]


def _table() -> pl.DataFrame:
    rng = random.Random(7)
    rows = {(rng.choice(USERS), T0 + timedelta(hours=rng.randrange(96))) for _ in range(120)}
    return pl.DataFrame(
        [{"user_id": u, "event_time": t, "score": float(i)} for i, (u, t) in enumerate(sorted(rows))],
        schema={"user_id": pl.String(), "event_time": UTC_US, "score": pl.Float64()},
    )


def _spine() -> pl.DataFrame:
    """Unsorted, with repeated times and rows on the TTL edge and before any feature row."""
    rng = random.Random(11)
    times = [T0 + timedelta(hours=rng.randrange(-6, 110)) for _ in range(40)]
    times += [T0 + SPEC.ttl, T0 + SPEC.ttl + timedelta(microseconds=1)] * 3
    users = [rng.choice([*USERS, "nobody"]) for _ in times]
    return pl.DataFrame(
        {"user_id": users, "event_time": times, "label": [i % 3 == 0 for i in range(len(times))]},
        schema={"user_id": pl.String(), "event_time": UTC_US, "label": pl.Boolean()},
    )


def test_slabs_on_dask_workers_equal_the_in_memory_join(settings: Settings) -> None:
    store = DeltaStore(settings)
    metadata = {"featurelake.operation": "test", "featurelake.actor": "pytest"}
    write_feature_table(store, SPEC, _table(), metadata=metadata)
    api, spine = FeatureStore(store, [SPEC]), _spine()
    dask = settings.model_copy(update={"build_executor": "local", "build_workers": 2})

    in_memory = api.get_training_set(spine, [SPEC.ref])
    fanned_out = api.get_training_set(spine, [SPEC.ref], chunks=4, map_chunks=chunk_mapper(dask))

    assert fanned_out.frame.equals(in_memory.frame)
    assert fanned_out.frame["score"].null_count() < spine.height  # the join found rows
    entry = fanned_out.manifest["feature_sets"][0]
    whole = in_memory.manifest["feature_sets"][0]
    assert (entry["chunks"], entry["delta_version"]) == (4, whole["delta_version"])
    assert (entry["files_total"], entry["bytes_total"]) == (whole["files_total"], whole["bytes_total"])
    assert 1 <= entry["files_read"] <= 4 * entry["files_total"]
    assert 0 < entry["bytes_read"] <= 4 * entry["bytes_total"]

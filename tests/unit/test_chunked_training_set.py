"""Training sets joined in slabs equal the one-slab join: row for row, value for value, spine order kept.

The slab planner is checked on its own (slabs cover the spine, contiguously, evenly; a budget
gives more slabs as it shrinks), then ``get_training_set`` with random slab counts and budgets
against its one-slab result over the seeded lake of ``test_training_set_api``: spines unsorted,
with duplicated rows, rows on a feature row's time and on TTL edges, and spines whose rows share
a few times so that slab cuts fall inside runs of equal times. Jobs and results go through
pickle, as they do to a Dask worker.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurelake.build.budget import resident_bytes
from featurelake.core.spine_slabs import slab_bounds, slab_count
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.retrieve.training import SetRequest
from featurelake.retrieve.training_budget import SLAB_OVERHEAD_BYTES, plan_slabs
from tests.unit.test_training_set_api import (
    CUSTOMER,
    JOINED,
    LAKE_FRAMES,
    MERCHANT,
    SPECS,
    TIME,
    at,
    lake_spines,
    new_store,
    publish,
)

PROPERTIES = settings(derandomize=True, database=None, deadline=None, max_examples=20)
REFS = [spec.ref for spec in JOINED]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DeltaStore:
    lake = new_store(tmp_path_factory)
    for spec in SPECS:
        publish(lake, spec, LAKE_FRAMES[spec.ref])
    return lake


@pytest.fixture(scope="module")
def api(store: DeltaStore) -> FeatureStore:
    return FeatureStore(store, SPECS)


def through_pickle(function: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
    """A chunk mapper that sends the function, each job and each result through pickle, as a process pool would."""
    remote = pickle.loads(pickle.dumps(function))
    return [pickle.loads(pickle.dumps(remote(pickle.loads(pickle.dumps(job))))) for job in jobs]


@st.composite
def tied_spines(draw: st.DrawFn) -> pl.DataFrame:
    """A lake spine whose rows all fall on two or three times: cuts land inside runs of equal times."""
    spine = draw(lake_spines)
    times = draw(st.lists(st.integers(-2, 40).map(at), min_size=1, max_size=3))
    picks = draw(st.lists(st.sampled_from(times), min_size=spine.height, max_size=spine.height))
    return spine.with_columns(pl.Series(TIME, picks, dtype=spine.schema[TIME]))


# --- the planner ------------------------------------------------------------------------------


@PROPERTIES
@given(rows=st.integers(1, 500), count=st.integers(-3, 600))
def test_slabs_cover_the_spine_contiguously_and_evenly(rows: int, count: int) -> None:
    bounds = slab_bounds(rows, count)
    assert len(bounds) == max(1, min(count, rows))
    assert bounds[0][0] == 0
    assert bounds[-1][1] == rows
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(bounds))
    sizes = [end - start for start, end in bounds]
    assert min(sizes) >= 1
    assert max(sizes) - min(sizes) <= 1


@PROPERTIES
@given(
    rows=st.integers(1, 10**7),
    spine_bytes=st.integers(0, 10**9),
    feature_bytes=st.integers(0, 10**10),
    budget=st.integers(1, 10**10),
)
def test_a_smaller_budget_never_gives_fewer_slabs(rows: int, spine_bytes: int, feature_bytes: int, budget: int) -> None:
    count = slab_count(rows, spine_bytes, feature_bytes, budget)
    assert 1 <= count <= rows
    assert slab_count(rows, spine_bytes, feature_bytes, max(1, budget // 2)) >= count
    assert slab_count(rows, spine_bytes, feature_bytes, None) == 1


# --- slabs against one join -------------------------------------------------------------------


def assert_same_training_set(api: FeatureStore, spine: pl.DataFrame, chunks: int, spine_time: str = TIME) -> None:
    whole = api.get_training_set(spine, REFS, spine_time=spine_time)
    sliced = api.get_training_set(spine, REFS, spine_time=spine_time, chunks=chunks, map_chunks=through_pickle)
    assert sliced.frame.equals(whole.frame)  # values, dtypes and the spine's row order
    assert sliced.frame.schema == whole.frame.schema
    assert sliced.feature_columns == whole.feature_columns
    slabs = min(chunks, spine.height)
    for one, many in zip(whole.manifest["feature_sets"], sliced.manifest["feature_sets"], strict=True):
        assert (one["chunks"], many["chunks"]) == (1, slabs)
        assert one["delta_version"] == many["delta_version"]
        assert {k: v for k, v in one.items() if not k.endswith(("_read", "_total", "chunks"))} == {
            k: v for k, v in many.items() if not k.endswith(("_read", "_total", "chunks"))
        }


@PROPERTIES
@given(spine=lake_spines, chunks=st.integers(1, 30))
def test_slabs_join_like_one_join(api: FeatureStore, spine: pl.DataFrame, chunks: int) -> None:
    assert_same_training_set(api, spine, chunks)


@PROPERTIES
@given(spine=tied_spines(), chunks=st.integers(2, 30))
def test_cuts_between_rows_of_equal_times_change_nothing(api: FeatureStore, spine: pl.DataFrame, chunks: int) -> None:
    assert_same_training_set(api, spine, chunks)


@PROPERTIES
@given(spine=lake_spines, chunks=st.integers(2, 30))
def test_a_spine_in_time_order_and_another_time_column_join_alike(
    api: FeatureStore, spine: pl.DataFrame, chunks: int
) -> None:
    ordered = spine.sort(TIME, maintain_order=True).rename({TIME: "label_time"})
    assert_same_training_set(api, ordered, chunks, spine_time="label_time")


@PROPERTIES
@given(spine=lake_spines, extra=st.integers(0, 2**20))
def test_a_memory_budget_joins_like_one_join(api: FeatureStore, spine: pl.DataFrame, extra: int) -> None:
    """Budgets just above what the process holds: however many slabs they give, the result is the same."""
    budget = resident_bytes() + SLAB_OVERHEAD_BYTES + 4 * int(spine.estimated_size()) + 32 * 2**20 + extra
    whole = api.get_training_set(spine, REFS)
    budgeted = api.get_training_set(spine, REFS, memory_budget=budget)
    assert budgeted.frame.equals(whole.frame)


@PROPERTIES
@given(spine=lake_spines, budget=st.integers(1, 2**14))
def test_the_budget_sets_the_slab_count_from_the_tables_log(
    store: DeltaStore, api: FeatureStore, spine: pl.DataFrame, budget: int
) -> None:
    """With what the process holds set aside, a budget of a few KiB cuts the lake's spines into several slabs."""
    requests = [SetRequest(spec, {f: f for f in spec.feature_names}, None) for spec in JOINED]
    output = spine.height * 9 * 6  # two 9-byte features of three sets
    narrow = int(spine.select("customer_id", "merchant_id", TIME).estimated_size())  # the slabs, held throughout
    held = SLAB_OVERHEAD_BYTES + narrow + 2 * output
    count, pinned = plan_slabs(store, spine, TIME, requests, memory_budget=held + budget, chunks=None, resident=0)
    smaller, _ = plan_slabs(
        store, spine, TIME, requests, memory_budget=held + max(1, budget // 4), chunks=None, resident=0
    )
    assert 1 <= count <= smaller <= spine.height
    assert all(request.delta_version == 0 for request in pinned)
    assert api.get_training_set(spine, REFS, chunks=smaller).frame.equals(api.get_training_set(spine, REFS).frame)


@settings(derandomize=True, database=None, deadline=None, max_examples=10)
@given(data=st.data(), chunks=st.integers(2, 12))
def test_tied_feature_rows_resolve_alike_in_every_slab(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, chunks: int
) -> None:
    """A table (not written by a build) with several rows per entity and time: each slab picks the same one."""
    slot = st.integers(0, 12).map(at)
    rows = data.draw(
        st.lists(st.tuples(st.sampled_from(["c1", "c2"]), slot, st.floats(-9, 9)), min_size=2, max_size=40)
    )
    frame = pl.DataFrame(
        [{"customer_id": c, TIME: t, "cust_amount": v, "cust_fid": i} for i, (c, t, v) in enumerate(rows)],
        schema={
            "customer_id": pl.String(),
            TIME: pl.Datetime("us", "UTC"),
            "cust_amount": pl.Float64(),
            "cust_fid": pl.Int64(),
        },
    )
    lake = new_store(tmp_path_factory)
    publish(lake, CUSTOMER, frame)
    spine = data.draw(lake_spines).select("customer_id", TIME, "label")
    api = FeatureStore(lake, SPECS)
    whole = api.get_training_set(spine, [CUSTOMER.ref])
    assert api.get_training_set(spine, [CUSTOMER.ref], chunks=chunks).frame.equals(whole.frame)


def test_a_budget_below_what_the_process_holds_is_refused_naming_the_setting(api: FeatureStore) -> None:
    spine = pl.DataFrame({"customer_id": ["c1"], "merchant_id": [1], TIME: [at(3)]}).with_columns(
        pl.col(TIME).cast(pl.Datetime("us", "UTC"))
    )
    with pytest.raises(ValueError, match="FEATURELAKE_RETRIEVAL_MEMORY_BUDGET"):
        api.get_training_set(spine, [CUSTOMER.ref, MERCHANT.ref], memory_budget=2**20)


def test_slabs_read_one_pinned_version_and_report_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Unpinned sets are resolved to their latest version once, before any slab reads."""
    lake = new_store(tmp_path_factory)
    publish(lake, CUSTOMER, LAKE_FRAMES[CUSTOMER.ref])
    publish(lake, CUSTOMER, LAKE_FRAMES[CUSTOMER.ref])
    spine = pl.DataFrame({"customer_id": ["c1", "c2", "c3"], TIME: [at(5), at(9), at(20)]}).with_columns(
        pl.col(TIME).cast(pl.Datetime("us", "UTC"))
    )
    training = FeatureStore(lake, SPECS).get_training_set(spine, [CUSTOMER.ref], chunks=3)
    entry = training.manifest["feature_sets"][0]
    assert (entry["delta_version"], entry["chunks"]) == (1, 3)

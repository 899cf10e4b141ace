"""FeatureStore training sets and lookups on a local Delta lake, checked against a brute-force oracle.

Feature tables hold one row per entity and event time (as ``compute_features`` produces them),
on a two-hour grid across three UTC days, so tables span several day partitions and spines reach
rows exactly at their time and exactly at the TTL boundary. Each row's ``*_fid`` column is unique
across every write, so a row read from the wrong Delta version or the wrong day cannot pass for
the right one. The oracle here is written independently of the one in ``test_point_in_time``:
among the candidate rows it takes the maximum of (event time, position in the frame).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurelake.core.contracts import SourceContract
from featurelake.core.featureset import Feature, FeatureSet
from featurelake.core.fingerprint import fingerprint
from featurelake.core.pointintime import SpineError
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore, TrainingSet
from featurelake.settings import Settings

Row = dict[str, Any]

UTC_US = pl.Datetime("us", "UTC")
T0 = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
STEP = timedelta(hours=2)
SLOTS = 36
US = timedelta(microseconds=1)
TIME = "event_time"

CUSTOMERS = ("c1", "c2", "c3")
MERCHANTS = (1, 2, 3)
KEY_DTYPES: dict[str, pl.DataType] = {"customer_id": pl.String(), "merchant_id": pl.Int64()}
SPINE_DOMAINS: dict[str, tuple[object, ...]] = {"customer_id": (*CUSTOMERS, "c9"), "merchant_id": (*MERCHANTS, 9)}
DOMAINS: dict[str, tuple[object, ...]] = {"customer_id": CUSTOMERS, "merchant_id": MERCHANTS}

SOURCE = SourceContract(
    name="toy_transactions",
    columns={"txn_id": pl.String(), **KEY_DTYPES, TIME: UTC_US, "amount": pl.Float64()},
    required=("txn_id", "customer_id", "merchant_id", TIME, "amount"),
    primary_key=("txn_id",),
    event_time=TIME,
)


def _spec(name: str, version: int, keys: tuple[str, ...], ttl: timedelta, prefix: str) -> FeatureSet:
    return FeatureSet(
        name=name,
        version=version,
        entity_keys=keys,
        event_time=TIME,
        source=SOURCE,
        features=(
            Feature(f"{prefix}_amount", pl.col("amount").cum_sum(), pl.Float64(), "running spend"),
            Feature(f"{prefix}_fid", pl.col("amount").cum_count(), pl.Int64(), "row id (here: unique per write)"),
        ),
        description=f"{name}: toy feature set for training-set tests",
        owner="tests",
        ttl=ttl,
    )


CUSTOMER = _spec("customer_txn", 1, ("customer_id",), 3 * STEP, "cust")
CUSTOMER_V2 = _spec("customer_txn", 2, ("customer_id",), 5 * STEP, "cust")  # same feature names: they clash
MERCHANT = _spec("merchant_txn", 1, ("merchant_id",), 6 * STEP, "merch")
PAIR = _spec("pair_txn", 1, ("customer_id", "merchant_id"), 2 * STEP, "pair")
SPECS = (CUSTOMER, CUSTOMER_V2, MERCHANT, PAIR)
JOINED = (CUSTOMER, MERCHANT, PAIR)  # distinct feature names: requestable together without full_names

DELTA = settings(derandomize=True, database=None, deadline=None, max_examples=20)
SPINES_ONLY = settings(derandomize=True, database=None, deadline=None, max_examples=40)


def at(slot: int) -> datetime:
    return T0 + slot * STEP


def schema(spec: FeatureSet) -> dict[str, pl.DataType]:
    return {**{k: KEY_DTYPES[k] for k in spec.entity_keys}, TIME: UTC_US, **{f.name: f.dtype for f in spec.features}}


def amount(spec: FeatureSet) -> str:
    return spec.feature_names[0]


def fid(spec: FeatureSet) -> str:
    return spec.feature_names[1]


def table(
    spec: FeatureSet, drawn: Sequence[tuple[tuple[object, ...], datetime, float | None]], first_id: int
) -> pl.DataFrame:
    """A feature table's rows, one per (entity, time): the first drawn row of a pair wins."""
    rows: dict[tuple[object, ...], Row] = {}
    for key, when, value in drawn:
        row = {**dict(zip(spec.entity_keys, key, strict=True)), TIME: when, amount(spec): value}
        rows.setdefault((*key, when), row)
    ids = [{**row, fid(spec): first_id + i} for i, row in enumerate(rows.values())]
    return pl.DataFrame(ids, schema=schema(spec))


def as_of(
    spine_rows: Sequence[Row], table_rows: Sequence[Row], spec: FeatureSet, columns: Mapping[str, str], spine_time: str
) -> list[Row]:
    """The oracle: the candidate with the greatest (event time, position in frame), else nulls."""
    out = []
    for spine_row in spine_rows:
        now = spine_row[spine_time]
        candidates = [
            (row[TIME], position)
            for position, row in enumerate(table_rows)
            if all(row[k] == spine_row[k] for k in spec.entity_keys) and now - spec.ttl <= row[TIME] <= now
        ]
        best = table_rows[max(candidates)[1]] if candidates else None
        out.append({**spine_row, **{target: None if best is None else best[s] for s, target in columns.items()}})
    return out


def oracle(
    spine: pl.DataFrame,
    tables: Sequence[tuple[FeatureSet, pl.DataFrame]],
    spine_time: str,
    names: Mapping[str, str] | None = None,
) -> list[Row]:
    """Each feature set in turn, every feature under its own name unless ``names`` renames it."""
    rows = spine.to_dicts()
    for spec, frame in tables:
        columns = {f: (names or {}).get(f"{spec.ref}:{f}", f) for f in spec.feature_names}
        rows = as_of(rows, frame.to_dicts(), spec, columns, spine_time)
    return rows


def new_store(factory: pytest.TempPathFactory) -> DeltaStore:
    return DeltaStore(Settings(lake_uri=str(factory.mktemp("lake"))))


def publish(store: DeltaStore, spec: FeatureSet, frame: pl.DataFrame, days: tuple[date, date] | None = None) -> int:
    return write_feature_table(
        store, spec, frame, metadata={"featurelake.operation": "test", "featurelake.actor": "pytest"}, days=days
    )


@st.composite
def tables(draw: st.DrawFn, spec: FeatureSet, first_id: int = 0, slots: Sequence[int] = range(SLOTS)) -> pl.DataFrame:
    key = st.tuples(*(st.sampled_from(DOMAINS[k]) for k in spec.entity_keys))
    row = st.tuples(key, st.sampled_from(list(slots)).map(at), st.none() | st.integers(-99, 99).map(float))
    return table(spec, draw(st.lists(row, min_size=1, max_size=30)), first_id)


@st.composite
def spines(
    draw: st.DrawFn, spine_time: str, anchored_on: Sequence[tuple[FeatureSet, pl.DataFrame]] = ()
) -> pl.DataFrame:
    """Labelled spine rows in random order, some duplicated, some pinned to a feature row's edges."""
    keys = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SPINE_DOMAINS.items()})
    free = st.builds(
        lambda key, slot, nudge: {**key, spine_time: at(slot) + nudge},
        keys,
        st.integers(-2, SLOTS + 8),
        st.sampled_from([-US, timedelta(0), US]),
    )
    options = [free]
    for spec, frame in anchored_on:
        if frame.height:
            offsets = [timedelta(0), -US, spec.ttl, spec.ttl - US, spec.ttl + US]
            options.append(
                st.builds(
                    lambda key, anchor, offset: {
                        **key,
                        **{k: v for k, v in anchor.items() if k in SPINE_DOMAINS},
                        spine_time: anchor[TIME] + offset,
                    },
                    keys,
                    st.sampled_from(frame.to_dicts()),
                    st.sampled_from(offsets),
                )
            )
    rows = draw(st.lists(st.one_of(options), min_size=1, max_size=20))
    rows = [{**row, "label": i % 2 == 0} for i, row in enumerate(rows)]
    rows += draw(st.lists(st.sampled_from(rows), max_size=4))
    rows = draw(st.permutations(rows))
    return pl.DataFrame(rows, schema={**KEY_DTYPES, spine_time: UTC_US, "label": pl.Boolean()})


spine_times = st.sampled_from([TIME, "label_time"])


def assert_manifest(training: TrainingSet, store: DeltaStore, versions: Sequence[tuple[FeatureSet, int]]) -> None:
    entries = training.manifest["feature_sets"]
    assert [e["ref"] for e in entries] == [spec.ref for spec, _ in versions]
    for entry, (spec, version) in zip(entries, versions, strict=True):
        assert entry["delta_version"] == version
        assert entry["fingerprint"] == fingerprint(spec)
        assert entry["table_uri"] == store.uri(spec.table_path)
        assert (Path(entry["table_uri"]) / "_delta_log").is_dir()
        assert entry["entity_keys"] == list(spec.entity_keys)
        assert entry["ttl_seconds"] == spec.ttl.total_seconds()


# --- properties with fresh tables per example ------------------------------------------------


@DELTA
@given(data=st.data(), spine_time=spine_times)
def test_training_set_equals_the_oracle(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, spine_time: str
) -> None:
    """Customer (string key), merchant (integer key) and customer x merchant (two-column key) at once."""
    frames = [(spec, data.draw(tables(spec, first_id=100 * i), label=spec.ref)) for i, spec in enumerate(JOINED)]
    spine = data.draw(spines(spine_time, frames), label="spine")
    store = new_store(tmp_path_factory)
    versions = [(spec, publish(store, spec, frame)) for spec, frame in frames]

    training = FeatureStore(store, SPECS).get_training_set(spine, [s.ref for s in JOINED], spine_time=spine_time)

    features = [f for spec in JOINED for f in spec.feature_names]
    assert training.feature_columns == features
    assert training.frame.columns == [*spine.columns, *features]
    assert training.frame.to_dicts() == oracle(spine, frames, spine_time)
    assert_manifest(training, store, versions)
    assert training.manifest["spine"]["rows"] == spine.height
    assert training.manifest["spine"]["time_column"] == spine_time


@DELTA
@given(data=st.data(), by_day=st.booleans())
def test_a_pinned_version_ignores_a_newer_write(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, by_day: bool
) -> None:
    """Write v0, then overwrite the whole table or one day of it: v0 pinned reads exactly the old rows."""
    old = data.draw(tables(CUSTOMER), label="v0")
    day = at(data.draw(st.integers(0, SLOTS - 1), label="day slot")).date()
    in_day = [s for s in range(SLOTS) if at(s).date() == day]
    new = data.draw(tables(CUSTOMER, first_id=1000, slots=in_day if by_day else range(SLOTS)), label="v1")
    kept = old.filter(pl.col(TIME).dt.date() != day) if by_day else old.clear()
    current = pl.concat([kept, new])  # the rows the latest version holds
    spine = data.draw(spines(TIME, [(CUSTOMER, old), (CUSTOMER, new)]), label="spine")
    store = new_store(tmp_path_factory)
    first = publish(store, CUSTOMER, old)
    second = publish(store, CUSTOMER, new, days=(day, day) if by_day else None)
    assert (first, second) == (0, 1)

    api = FeatureStore(store, SPECS)
    pinned = api.get_training_set(spine, [CUSTOMER.ref], pins={CUSTOMER.ref: first})
    latest = api.get_training_set(spine, [CUSTOMER.ref])
    pinned_to_latest = api.get_training_set(spine, [CUSTOMER.ref], pins={CUSTOMER.ref: second})

    assert pinned.frame.to_dicts() == oracle(spine, [(CUSTOMER, old)], TIME)
    assert latest.frame.to_dicts() == oracle(spine, [(CUSTOMER, current)], TIME)
    assert pinned_to_latest.frame.equals(latest.frame)
    assert_manifest(pinned, store, [(CUSTOMER, first)])
    assert_manifest(latest, store, [(CUSTOMER, second)])


# --- properties over spines, on one lake written once ----------------------------------------


def _seeded_tables() -> dict[str, pl.DataFrame]:
    """Every spec's rows from a seeded generator: about forty each over three days."""
    rng = random.Random(20261101)
    frames = {}
    for i, spec in enumerate(SPECS):
        drawn = [
            (
                tuple(rng.choice(DOMAINS[k]) for k in spec.entity_keys),
                at(rng.randrange(SLOTS)),
                None if rng.random() < 0.1 else float(rng.randint(-99, 99)),
            )
            for _ in range(45)
        ]
        frames[spec.ref] = table(spec, drawn, first_id=1000 * i)
    return frames


LAKE_FRAMES = _seeded_tables()  # by feature set ref


@dataclass(frozen=True)
class Lake:
    store: DeltaStore
    api: FeatureStore

    def rows(self, *specs: FeatureSet) -> list[tuple[FeatureSet, pl.DataFrame]]:
        return [(spec, LAKE_FRAMES[spec.ref]) for spec in specs]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Every spec published once (Delta version 0), shared by the tests below."""
    store = new_store(tmp_path_factory)
    for spec in SPECS:
        assert publish(store, spec, LAKE_FRAMES[spec.ref]) == 0
    return Lake(store, FeatureStore(store, SPECS))


lake_spines = spines(TIME, [(spec, LAKE_FRAMES[spec.ref]) for spec in (CUSTOMER, CUSTOMER_V2, MERCHANT)])


@SPINES_ONLY
@given(spine=lake_spines, full_names=st.booleans())
def test_every_version_of_a_feature_set_joins_like_the_oracle(
    lake: Lake, spine: pl.DataFrame, full_names: bool
) -> None:
    """Two versions with clashing feature names, side by side under full names (and refused without)."""
    refs = [CUSTOMER.ref, CUSTOMER_V2.ref, MERCHANT.ref]
    if not full_names:
        with pytest.raises(ValueError, match=r"'cust_amount' is requested twice .*full_names=True"):
            lake.api.get_training_set(spine, refs)
        return
    training = lake.api.get_training_set(spine, refs, full_names=True)
    names = {f"{s.ref}:{f}": f"{s.name}__v{s.version}__{f}" for s in SPECS for f in s.feature_names}
    expected_columns = [names[f"{s.ref}:{f}"] for s in (CUSTOMER, CUSTOMER_V2, MERCHANT) for f in s.feature_names]
    assert training.feature_columns == expected_columns
    assert training.frame.to_dicts() == oracle(spine, lake.rows(CUSTOMER, CUSTOMER_V2, MERCHANT), TIME, names)
    assert_manifest(training, lake.store, [(CUSTOMER, 0), (CUSTOMER_V2, 0), (MERCHANT, 0)])


@SPINES_ONLY
@given(
    entities=st.lists(
        st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SPINE_DOMAINS.items()}), min_size=1, max_size=15
    )
)
def test_lookup_returns_each_entitys_latest_row(lake: Lake, entities: list[Row]) -> None:
    frame = pl.DataFrame(entities, schema=KEY_DTYPES)
    looked_up = lake.api.lookup(frame, [CUSTOMER.ref, PAIR.ref])

    expected = []
    for entity in entities:
        out = dict(entity)
        for spec in (CUSTOMER, PAIR):
            rows = [r for r in LAKE_FRAMES[spec.ref].to_dicts() if all(r[k] == entity[k] for k in spec.entity_keys)]
            latest = max(rows, key=lambda r: r[TIME]) if rows else None  # times are unique per entity
            out[f"{spec.name}__v{spec.version}__{TIME}"] = None if latest is None else latest[TIME]
            out.update({f: None if latest is None else latest[f] for f in spec.feature_names})
        expected.append(out)
    assert looked_up.select(sorted(looked_up.columns)).to_dicts() == [
        {k: row[k] for k in sorted(row)} for row in expected
    ]


# --- references, names and refusals ----------------------------------------------------------


def _spine(**extra: pl.Series) -> pl.DataFrame:
    times = [at(s) for s in (3, 10, 10, 20, 33)]
    return pl.DataFrame(
        {
            "customer_id": pl.Series(["c1", "c2", "c2", "c3", "c9"], dtype=pl.String()),
            "merchant_id": pl.Series([1, 2, 2, 3, 9], dtype=pl.Int64()),
            TIME: pl.Series(times, dtype=UTC_US),
            "label": pl.Series([True, False, False, True, False]),
            **extra,
        }
    )


def test_a_feature_reference_selects_one_column(lake: Lake) -> None:
    spine = _spine()
    training = lake.api.get_training_set(spine, ["customer_txn:v1:cust_amount"])
    assert training.feature_columns == ["cust_amount"]
    assert training.frame.columns == [*spine.columns, "cust_amount"]
    assert training.manifest["feature_sets"][0]["features"] == ["cust_amount"]
    whole = oracle(spine, lake.rows(CUSTOMER), TIME)
    assert training.frame.to_dicts() == [{k: v for k, v in row.items() if k != "cust_fid"} for row in whole]


def test_feature_references_to_one_set_merge_in_request_order(lake: Lake) -> None:
    spine = _spine()
    refs = ["customer_txn:v1:cust_fid", "merchant_txn:v1:merch_amount", "customer_txn:v1", "customer_txn:v1:cust_fid"]
    training = lake.api.get_training_set(spine, refs)
    assert training.feature_columns == ["cust_fid", "cust_amount", "merch_amount"]
    assert [e["features"] for e in training.manifest["feature_sets"]] == [["cust_fid", "cust_amount"], ["merch_amount"]]
    expected = oracle(spine, lake.rows(CUSTOMER, MERCHANT), TIME)
    assert training.frame.to_dicts() == [
        {k: row[k] for k in [*spine.columns, "cust_fid", "cust_amount", "merch_amount"]} for row in expected
    ]


def test_a_feature_named_like_a_spine_column_is_refused_unless_full_names(lake: Lake) -> None:
    spine = _spine(cust_amount=pl.Series([1.0, 2.0, 3.0, 4.0, 5.0]))
    with pytest.raises(ValueError, match=r"'cust_amount' is requested twice \(the spine and customer_txn:v1:cust"):
        lake.api.get_training_set(spine, [CUSTOMER.ref])
    training = lake.api.get_training_set(spine, [CUSTOMER.ref], full_names=True)
    assert training.feature_columns == ["customer_txn__v1__cust_amount", "customer_txn__v1__cust_fid"]
    assert training.frame["cust_amount"].equals(spine["cust_amount"])


def test_a_spine_without_a_feature_sets_key_is_refused_naming_it(lake: Lake) -> None:
    with pytest.raises(SpineError, match=r"training set with pair_txn:v1: .*merchant_id"):
        lake.api.get_training_set(_spine().drop("merchant_id"), [CUSTOMER.ref, PAIR.ref])


def test_a_naive_spine_time_is_refused_naming_it(lake: Lake) -> None:
    spine = _spine().with_columns(pl.col(TIME).dt.replace_time_zone(None))
    with pytest.raises(SpineError, match=rf"spine time column '{TIME}' .*time-zone-aware"):
        lake.api.get_training_set(spine, [CUSTOMER.ref])


def test_a_spine_that_reaches_no_partition_gets_null_features(lake: Lake) -> None:
    """Every lake table starts on 2026-11-01: a spine a week earlier reaches no partition, so it has no features."""
    spine = _spine().with_columns(pl.col(TIME) - timedelta(days=7))
    training = lake.api.get_training_set(spine, [CUSTOMER.ref])
    assert training.frame.to_dicts() == oracle(spine, lake.rows(CUSTOMER), TIME)
    assert training.frame["cust_amount"].null_count() == spine.height

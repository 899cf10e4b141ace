"""Backfills replace exactly their days; reads travel in time; concurrent writers are safe (real S3, Delta)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from datetime import date

import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from featurelake.build.backfill import backfill
from featurelake.build.publish import published_commit
from featurelake.build.source import read_source
from featurelake.cli.main import app
from featurelake.core.constraints import check_constraints
from featurelake.core.featureset import PARTITION_COLUMN, compute_features
from featurelake.core.fingerprint import fingerprint
from featurelake.io.delta.feature_tables import ensure_check_constraints, read_feature_table
from featurelake.io.delta.registry import FeatureRegistry
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings
from features.customer_txn import CUSTOMER_TXN
from features.merchant_txn import MERCHANT_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from tests.integration.helpers import demo_objects, upload

RUNNER = CliRunner()
AUDIT = {"featurelake.actor": "tests", "featurelake.code_revision": "test"}


def _files_by_day(store: DeltaStore) -> dict[str, set[str]]:
    table = store.existing(CUSTOMER_TXN.table_path)
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    grouped = actions.group_by(f"partition.{PARTITION_COLUMN}").agg(pl.col("path"))
    return {str(day): set(paths) for day, paths in grouped.iter_rows()}


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("customer_id", "event_time")


def _published(settings: Settings) -> tuple[DeltaStore, pl.DataFrame, int]:
    """The demo data ingested and customer_txn:v1 built once: the store, the table's rows, the publish's version."""
    upload(settings, demo_objects())
    ingest()
    store = DeltaStore(settings)
    # created empty as a chunked build creates it, in day partitions: these tests are about day files
    # (the demo's volume alone would get none; tests/integration/test_layout_and_backfill.py covers every layout)
    ensure_check_constraints(
        store, CUSTOMER_TXN, check_constraints(CUSTOMER_TXN), pl.DataFrame(schema=CUSTOMER_TXN.output_schema())
    )
    delta_version = int(build_features("customer_txn", 1)["delta_version"])
    return store, read_feature_table(store, CUSTOMER_TXN).frame, delta_version


def test_backfill_replaces_only_its_days_and_equals_a_full_build(settings: Settings) -> None:
    store, full, first_publish = _published(settings)
    before = _files_by_day(store)

    result = RUNNER.invoke(app, ["backfill", "customer_txn:v1", "--start", "2026-11-03", "--end", "2026-11-04"])

    assert result.exit_code == 0, result.output
    assert "rebuilt 2026-11-03..2026-11-04" in result.output
    after = _files_by_day(store)
    rebuilt = {"2026-11-03", "2026-11-04"}
    assert {d: after[d] for d in after if d not in rebuilt} == {d: before[d] for d in before if d not in rebuilt}
    assert all(after[d].isdisjoint(before[d]) for d in rebuilt)  # new files for exactly those days
    assert _sorted(read_feature_table(store, CUSTOMER_TXN).frame).equals(_sorted(full))  # windows started full
    commit = store.history(CUSTOMER_TXN.table_path, 1)[0]
    assert commit["featurelake.operation"] == "backfill"
    assert commit["featurelake.days"] == "2026-11-03..2026-11-04"
    assert commit["featurelake.fingerprint"] == fingerprint(CUSTOMER_TXN)
    published = published_commit(store, CUSTOMER_TXN, int(commit["featurelake.source_bronze_version"]))
    assert published is not None
    assert published["version"] == first_publish  # a retried build re-announces the publish, not the backfill

    again = backfill(store, CUSTOMER_TXN, date(2026, 11, 3), date(2026, 11, 4), AUDIT)
    assert again.delta_version == commit["version"] + 1
    assert _sorted(read_feature_table(store, CUSTOMER_TXN).frame).equals(_sorted(full))  # a retry changes nothing

    empty = RUNNER.invoke(app, ["backfill", "customer_txn:v1", "--start", "2027-01-01", "--end", "2027-01-02"])
    assert empty.exit_code == 1
    assert "no rows with event_time between 2027-01-01 and 2027-01-02; nothing was changed" in empty.output


def test_time_travel_by_version_and_timestamp(settings: Settings) -> None:
    store, _, first_publish = _published(settings)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    source, _ = read_source(store, CUSTOMER_TXN)
    first_day = compute_features(CUSTOMER_TXN, source).filter(pl.col("event_time").dt.day() == 1)
    doubled = first_day.with_columns(pl.col("amount_sum_1h") * 2)
    backfill_version = store.write(  # a deliberate overwrite of day 1 to travel back from
        CUSTOMER_TXN.table_path,
        doubled.with_columns(pl.col("event_time").dt.date().alias(PARTITION_COLUMN)),
        mode="overwrite",
        metadata=AUDIT,
        predicate=f"{PARTITION_COLUMN} = '2026-11-01'",
        partition_by=[PARTITION_COLUMN],
    )
    api = FeatureStore(store, [CUSTOMER_TXN])

    by_version = api.read("customer_txn:v1", delta_version=first_publish)
    by_time = api.read("customer_txn:v1", as_of=between)
    latest = api.read("customer_txn:v1")

    assert (by_version.delta_version, by_time.delta_version, latest.delta_version) == (
        first_publish,
        first_publish,
        backfill_version,
    )
    assert _sorted(by_time.frame).equals(_sorted(by_version.frame))
    assert not _sorted(latest.frame).equals(_sorted(by_version.frame))
    cli = RUNNER.invoke(app, ["read", "customer_txn:v1", "--as-of", between.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]])
    assert f"at Delta version {first_publish}" in cli.output, cli.output
    with pytest.raises(ValueError, match="did not exist at 2020-01-01"):
        api.read("customer_txn:v1", as_of=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="has no time zone"):
        api.read("customer_txn:v1", as_of=dt.datetime(2026, 1, 1))
    lookup = RUNNER.invoke(
        app, ["lookup", "customer_txn:v1", "--id", "c00001", "--id", "nobody", "--version", str(first_publish)]
    )
    assert lookup.exit_code == 0, lookup.output
    assert "customer_txn__v1__event_time" in lookup.output


def _concurrently(*actions: Callable[[], object]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(actions))

    def run(action: Callable[[], object]) -> None:
        start.wait()
        try:
            action()
        except BaseException as error:  # collected and asserted on by the caller
            errors.append(error)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def test_concurrent_registrations_and_backfills_of_disjoint_days_all_land(settings: Settings) -> None:
    store, full, _ = _published(settings)
    registry = FeatureRegistry(store)

    errors = _concurrently(
        lambda: registry.ensure_registered(MERCHANT_TXN, "rev", "writer-a"),
        lambda: registry.ensure_registered(MERCHANT_TXN, "rev", "writer-b"),
        lambda: backfill(store, CUSTOMER_TXN, date(2026, 11, 2), date(2026, 11, 2), AUDIT),
        lambda: backfill(store, CUSTOMER_TXN, date(2026, 11, 5), date(2026, 11, 5), AUDIT),
    )

    assert errors == []
    assert {r.ref for r in registry.records()} == {"customer_txn:v1", "merchant_txn:v1"}
    operations = [c.get("featurelake.operation") for c in store.history(CUSTOMER_TXN.table_path)]
    assert operations.count("backfill") == 2
    assert _sorted(read_feature_table(store, CUSTOMER_TXN).frame).equals(_sorted(full))

"""Exactly-once ingestion: a SIGKILL at every write, concurrent ingests, and duplicate delivery.

Real moto S3, real Delta tables and the real (test-harness) Prefect API. Crashes and concurrent
runs happen in child processes (``tests/integration/kill_ingest.py``) that run the ingest flow
with this test's settings; the repairing re-runs happen here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY, ingest_log_path
from featurelake.io.aws.raw import list_raw_objects
from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from flows.ingest import ingest
from tests.integration.helpers import DATA, demo_objects, upload

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("fraud_labels", "transactions")
BROKEN = "transactions/broken.parquet"
GOOD_ROWS = DATA.transactions.height
BAD_ROWS = 3  # the two malformed rows of the demo's first CSV day, and the corrupt file as one record
OBJECTS = 7  # six days of transactions and the corrupt file
CHILD_TIMEOUT = 300


def objects_with_bad_input() -> dict[str, bytes]:
    objects = demo_objects()
    objects[BROKEN] = b"PAR1 this is not parquet"
    return objects


def table_paths() -> list[str]:
    return [p for s in SOURCES for p in (quarantine_path(s), bronze_path(s), ingest_log_path(s))]


def versions(store: DeltaStore) -> dict[str, int | None]:
    return {path: store.version(path) for path in table_paths()}


def visible_rows(store: DeltaStore, path: str) -> int | None:
    """Rows of a table at its latest version (reading it proves it is readable), None if missing."""
    return None if store.version(path) is None else store.read(path).height


def assert_each_row_once(settings: Settings) -> None:
    """Bronze, quarantine and log hold every row and object of the raw bucket once, and agree."""
    store = DeltaStore(settings)
    bronze = store.read(bronze_path("transactions"))
    assert bronze.height == GOOD_ROWS
    assert bronze["txn_id"].n_unique() == GOOD_ROWS
    assert set(bronze["txn_id"]) == set(DATA.transactions["txn_id"])
    labels = store.read(bronze_path("fraud_labels"))
    assert labels.height == DATA.labels.height
    assert labels["txn_id"].n_unique() == labels.height
    quarantine = store.read(quarantine_path("transactions"))
    assert quarantine.height == BAD_ROWS
    assert quarantine.select(SOURCE_KEY, "_reason", "_raw").n_unique() == BAD_ROWS
    for source in SOURCES:
        listed = {o.key: o.etag for o in list_raw_objects(settings, f"{source}/")}
        log = store.read(ingest_log_path(source))
        assert log.height == len(listed)  # one row per object
        assert dict(zip(log[SOURCE_KEY], log[SOURCE_ETAG], strict=True)) == listed
        assert_log_matches_tables(store, source, log)


def assert_log_matches_tables(store: DeltaStore, source: str, log: pl.DataFrame) -> None:
    """Per object, the log's counts are the rows bronze and quarantine hold; no rows of unlogged objects."""
    accepted = rows_by_object(store, bronze_path(source))
    quarantined = rows_by_object(store, quarantine_path(source))
    logged = {key: (a, q) for key, a, q in log.select(SOURCE_KEY, "rows_accepted", "rows_quarantined").iter_rows()}
    assert {key: (accepted.get(key, 0), quarantined.get(key, 0)) for key in logged} == logged
    assert set(accepted) | set(quarantined) <= set(logged)


def rows_by_object(store: DeltaStore, path: str) -> dict[str, int]:
    if store.version(path) is None:
        return {}
    return dict(store.read(path, columns=[SOURCE_KEY])[SOURCE_KEY].value_counts().iter_rows())


def assert_a_rerun_changes_nothing(settings: Settings) -> None:
    store = DeltaStore(settings)
    before = versions(store)
    assert ingest() == []
    assert versions(store) == before


def child_env() -> dict[str, str]:
    """This test's settings (``FEATURELAKE_*`` are in the environment) and the harness's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def start_child(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.kill_ingest", *args],
            cwd=REPO,
            env=child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_child(child: subprocess.Popen[bytes], log: Path) -> int:
    try:
        return child.wait(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        pytest.fail(f"ingest child {child.pid} did not finish in {CHILD_TIMEOUT}s; its output:\n{log.read_text()}")


def child_result(log: Path) -> dict[str, Any]:
    lines = [line for line in log.read_text().splitlines() if line.startswith("RESULT ")]
    assert lines, log.read_text()
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def orphan_data_files(settings: Settings, path: str) -> set[str]:
    """Data files under a table's prefix that no committed version of it references."""
    lake = settings.lake_bucket
    listed = s3_client(settings).list_objects_v2(Bucket=lake, Prefix=f"{path}/").get("Contents", [])
    files = {f"s3://{lake}/{o['Key']}" for o in listed if "/_delta_log/" not in o["Key"]}
    return files - set(DeltaStore(settings).existing(path).file_uris())


#: Kill point → rows of the transactions quarantine, bronze and log visible right after the crash
#: (None: the table does not exist yet). Writes go quarantine, bronze, log, with nothing but a
#: version read in between, so "before bronze" is "after quarantine" and "before log" is "after
#: bronze": those two are left out. A missing table is created empty before its rows go in.
KILL_POINTS = {
    "before:quarantine": (None, None, None),
    "inside:quarantine": (0, None, None),
    "after:quarantine": (BAD_ROWS, None, None),
    "inside:bronze": (BAD_ROWS, 0, None),
    "after:bronze": (BAD_ROWS, GOOD_ROWS, None),
    "inside:log": (BAD_ROWS, GOOD_ROWS, 0),
    "after:log": (BAD_ROWS, GOOD_ROWS, OBJECTS),
}


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_sigkill_at_any_write_is_repaired_by_a_rerun(settings: Settings, tmp_path: Path, kill_point: str) -> None:
    upload(settings, objects_with_bad_input())
    log = tmp_path / "child.log"

    returncode = wait_child(start_child(["--kill", kill_point], log), log)

    assert returncode == -9, log.read_text()
    store = DeltaStore(settings)
    crashed_in = {"quarantine": quarantine_path, "bronze": bronze_path, "log": ingest_log_path}
    seen = tuple(visible_rows(store, crashed_in[t]("transactions")) for t in ("quarantine", "bronze", "log"))
    assert seen == KILL_POINTS[kill_point]
    assert visible_rows(store, bronze_path("fraud_labels")) == DATA.labels.height  # ingested before the crash
    if kill_point.startswith("inside:"):  # the data files were uploaded, the commit was not made
        assert orphan_data_files(settings, crashed_in[kill_point.split(":")[1]]("transactions"))

    ingest()

    assert_each_row_once(settings)
    assert_a_rerun_changes_nothing(settings)


@pytest.mark.parametrize("sync_at", ["flow", "quarantine", "bronze"])
def test_concurrent_ingests_of_the_same_objects_write_each_row_once(
    settings: Settings, tmp_path: Path, sync_at: str
) -> None:
    """Two ingests start together (or meet before the first write to a table) and both succeed."""
    upload(settings, objects_with_bad_input())
    sync_dir = tmp_path / "sync"
    sync_dir.mkdir()
    logs = [tmp_path / f"ingest-{n}.log" for n in (1, 2)]
    children = [start_child(["--sync-at", sync_at, "--sync-dir", str(sync_dir)], log) for log in logs]

    codes = [wait_child(child, log) for child, log in zip(children, logs, strict=True)]

    assert codes == [0, 0], "\n".join(log.read_text() for log in logs)
    conflicts = [child_result(log)["conflicts"] for log in logs]
    print(f"concurrent ingests synced at {sync_at}: commit races retried per child: {conflicts}")
    assert_each_row_once(settings)
    assert_each_run_counted_what_it_committed([child_result(log)["rows"] for log in logs])
    assert_a_rerun_changes_nothing(settings)


def assert_each_run_counted_what_it_committed(runs: list[list[dict[str, Any]]]) -> None:
    """Each object is counted by the one run that committed it first: the runs' counts add up to what landed."""
    landed = {"transactions": (OBJECTS, GOOD_ROWS, BAD_ROWS), "fraud_labels": (2, DATA.labels.height, 0)}
    for source, expected in landed.items():
        rows = [row for run in runs for row in run if row["source"] == source]
        counted = tuple(sum(int(r[k]) for r in rows) for k in ("objects_new", "rows_accepted", "rows_quarantined"))
        assert counted == expected, f"{source}: {rows}"
        assert all(r["reconciled"] for r in rows)


def test_duplicate_delivery_is_a_no_op_and_a_changed_object_replaces_its_rows(settings: Settings) -> None:
    """Same key, same content (same ETag): nothing happens. Same key, new content (new ETag): the
    new version is ingested and its rows replace the old version's rows of that key, in bronze,
    quarantine and the log alike, because every write overwrites by object key."""
    objects = objects_with_bad_input()
    upload(settings, objects)
    ingest()
    store = DeltaStore(settings)
    first = versions(store)
    etags = {o.key: o.etag for o in list_raw_objects(settings, "transactions/")}

    upload(settings, objects)  # delivered again, byte for byte

    assert {o.key: o.etag for o in list_raw_objects(settings, "transactions/")} == etags
    assert ingest() == []
    assert versions(store) == first

    key, changed, dropped = changed_csv_day(objects)
    upload(settings, {key: changed})
    new_etag = {o.key: o.etag for o in list_raw_objects(settings, "transactions/")}[key]
    assert new_etag != etags[key]

    rows = {r["source"]: r for r in ingest()}

    assert rows["transactions"]["objects_new"] == 1
    bronze = store.read(bronze_path("transactions"))
    assert bronze.height == GOOD_ROWS - 1  # the dropped row is gone, nothing is doubled
    assert bronze["txn_id"].n_unique() == bronze.height
    assert dropped not in set(bronze["txn_id"])
    of_key = bronze.filter(pl.col(SOURCE_KEY) == key)
    assert set(of_key[SOURCE_ETAG]) == {new_etag}
    assert (of_key["amount"] > 100_000).all()  # the new version's amounts
    quarantine = store.read(quarantine_path("transactions"))
    assert quarantine.height == BAD_ROWS  # the changed day's two malformed rows, replaced, not added
    assert set(quarantine.filter(pl.col(SOURCE_KEY) == key)[SOURCE_ETAG]) == {new_etag}
    log = store.read(ingest_log_path("transactions"))
    assert log.height == OBJECTS
    assert log.filter(pl.col(SOURCE_KEY) == key)[SOURCE_ETAG].to_list() == [new_etag]
    assert_log_matches_tables(store, "transactions", log)
    assert_a_rerun_changes_nothing(settings)


def test_a_changed_object_without_bad_rows_clears_its_old_quarantine_rows(settings: Settings) -> None:
    objects = objects_with_bad_input()
    upload(settings, objects)
    ingest()
    key, changed, _ = changed_csv_day(objects)
    clean = pl.read_csv(changed, infer_schema=False).filter(~pl.col("txn_id").str.starts_with("bad-"))
    upload(settings, {key: clean.write_csv().encode()})

    ingest()

    store = DeltaStore(settings)
    assert store.read(quarantine_path("transactions")).filter(pl.col(SOURCE_KEY) == key).height == 0
    assert_log_matches_tables(store, "transactions", store.read(ingest_log_path("transactions")))


def changed_csv_day(objects: dict[str, bytes]) -> tuple[str, bytes, str]:
    """The CSV day holding the malformed rows, re-sent changed: one good row dropped, amounts raised.

    Returns:
        The key, the new content and the ``txn_id`` of the dropped row.
    """
    key = next(k for k, v in sorted(objects.items()) if k.endswith(".csv") and b"bad-amount" in v)
    frame = pl.read_csv(objects[key], infer_schema=False)
    dropped = frame["txn_id"][0]
    good = ~pl.col("txn_id").str.starts_with("bad-")
    changed = frame.slice(1).with_columns(
        pl.when(good)
        .then((pl.col("amount").cast(pl.Float64, strict=False) + 100_000).cast(pl.String))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    return key, changed.write_csv().encode(), dropped


def test_a_crash_before_announcing_is_announced_by_the_next_run(settings: Settings, tmp_path: Path) -> None:
    """Killed after its last write, ingest told nobody; the next run (nothing new to ingest) does."""
    from featurelake.core.commits import ANNOUNCED_APP_ID
    from featurelake.core.events import BRONZE_APPENDED, at, event_id
    from featurelake.core.naming import bronze_resource_id
    from tests.integration.helpers import by_id, wait_for_events

    upload(settings, objects_with_bad_input())
    log = tmp_path / "child.log"
    assert wait_child(start_child(["--kill", "after:log"], log), log) == -9
    store = DeltaStore(settings)
    version = store.version(bronze_path("transactions"))
    assert version is not None
    assert store.app_version(ingest_log_path("transactions"), ANNOUNCED_APP_ID) is None

    assert ingest() == []  # nothing new to ingest ...

    assert store.app_version(ingest_log_path("transactions"), ANNOUNCED_APP_ID) == version  # ... but announced
    discriminator = at(store.uri(bronze_path("transactions")), version)
    (event,) = wait_for_events(by_id(event_id(BRONZE_APPENDED, bronze_resource_id("transactions"), discriminator)))
    assert event.payload["delta_version"] == version
    assert event.payload["rows_accepted"] == GOOD_ROWS
    assert event.payload["rows_quarantined"] == BAD_ROWS
    assert_a_rerun_changes_nothing(settings)  # and announced once: no further record, no new version

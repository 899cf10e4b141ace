"""Table maintenance on a real lake: many small ingest commits, compaction, checkpoints, vacuum, log cleanup.

The lake is Delta on a local directory (delta-rs's own code path, the same as on S3 apart from
the object store) and the registry is MLflow on SQLite. Raw objects go through ingest's real
write path (contract split → bronze, quarantine and ingest log → announcement record), one
commit per object, which is what piles up small files; feature versions are published by the
real publish. A model is registered the way retrain tags it, so vacuum and log cleanup must
keep its feature version and the bronze versions behind it (lineage walks them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import catalog, commits
from featurelake.core.featureset import compute_features
from featurelake.core.fingerprint import fingerprint
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.ingest.announcements import record_announced
from featurelake.ingest.bronze import IngestResult, ingest_log_path, write_batches
from featurelake.ingest.objects import split_bytes
from featurelake.io.aws.raw import RawObject
from featurelake.io.delta import maintenance
from featurelake.io.delta import store as delta_module
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import AppTransaction, DeltaStore
from featurelake.lineage.models import model_lineage
from featurelake.local import synthetic
from featurelake.operate.maintenance import (
    LakeTable,
    MaintenanceOptions,
    TableReport,
    lake_tables,
    maintain_lake,
    maintain_table,
)
from featurelake.operate.pins import model_pins
from featurelake.settings import Settings, get_settings
from features.customer_txn import CUSTOMER_TXN
from features.sources import FRAUD_LABELS, TRANSACTIONS

DATA = synthetic.generate(seed=11, customers=120, merchants=15, days=6)
PII_KEY = b"maintenance-test-key-32-bytes!!!"
NOW = dt.datetime(2026, 11, 8, tzinfo=dt.UTC)
BRONZE = bronze_path(TRANSACTIONS.name)
FEATURES = CUSTOMER_TXN.table_path
MODEL = "maintenance-test-model"
#: Short enough that this test's vacuums delete; a partition is compacted from four small files on.
OPTIONS = MaintenanceOptions(retention=timedelta(0), allow_short_retention=True, min_small_files=4, actor="test")
runner = CliRunner()


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A lake in a temporary directory and an MLflow registry on SQLite, also in the environment (for flows)."""
    values = {
        "lake_uri": str(tmp_path / "lake"),
        "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "state_dir": str(tmp_path),
    }
    for key, value in values.items():
        monkeypatch.setenv(f"FEATURELAKE_{key.upper()}", value)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


def transaction_chunks(count: int) -> list[pl.DataFrame]:
    """The transactions in ``count`` consecutive small objects; every fifth has a row the contract rejects."""
    frame = DATA.transactions.sort("event_time")
    size = -(-frame.height // count)
    chunks = [frame.slice(i * size, size) for i in range(count)]
    return [
        c.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(-1.0).otherwise("amount").alias("amount"))
        if i % 5 == 0
        else c
        for i, c in enumerate(chunks)
    ]


def ingest(store: DeltaStore, frame: pl.DataFrame, key: str, *, announce: bool = True) -> IngestResult:
    """One raw object through ingest's write path: one commit each to quarantine, bronze and the ingest log."""
    contract = FRAUD_LABELS if key.startswith("fraud_labels/") else TRANSACTIONS
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    obj = RawObject(key, hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data))
    result = write_batches(store, contract, [split_bytes(contract, obj, data, NOW, PII_KEY)], {"featurelake.run": key})
    if announce:
        record_announced(store, result, {})
    return result


def ingest_chunks(store: DeltaStore, chunks: list[pl.DataFrame], first: int) -> list[IngestResult]:
    return [ingest(store, chunk, f"transactions/chunk-{first + i:03d}.parquet") for i, chunk in enumerate(chunks)]


def publish(store: DeltaStore, bronze_version: int) -> int:
    """Publish customer_txn:v1 computed from one bronze version (the build's publish, without the flow)."""
    features = compute_features(CUSTOMER_TXN, store.read(BRONZE, bronze_version))
    metadata = {
        "featurelake.fingerprint": fingerprint(CUSTOMER_TXN),
        "featurelake.feature_set": CUSTOMER_TXN.ref,
        commits.BRONZE_VERSION: str(bronze_version),
    }
    marker = AppTransaction(commits.build_app_id(CUSTOMER_TXN), bronze_version)
    return write_feature_table(store, CUSTOMER_TXN, features, metadata=metadata, app_transaction=marker)


def register_model(settings: Settings, artifacts: Path, feature_version: int, labels_version: int) -> str:
    """Register a model version tagged and with a manifest the way retrain records them."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(settings.mlflow_experiment, artifact_location=artifacts.as_uri())
    )
    run = client.create_run(experiment_id, run_name="retrain")
    table_uri, labels_uri = settings.table_uri(FEATURES), settings.table_uri(bronze_path(FRAUD_LABELS.name))
    manifest = {
        "feature_sets": [{"ref": CUSTOMER_TXN.ref, "table_uri": table_uri, "delta_version": feature_version}],
        "labels": {"table_uri": labels_uri, "delta_version": labels_version},
    }
    client.log_dict(run.info.run_id, manifest, "training_set/manifest.json")
    if not client.search_registered_models(f"name = '{MODEL}'"):
        client.create_registered_model(MODEL)
    tags = {
        "featurelake.feature_set": CUSTOMER_TXN.ref,
        "featurelake.feature_table": table_uri,
        "featurelake.delta_version": str(feature_version),
        "featurelake.feature_sets": f"{CUSTOMER_TXN.ref}@{feature_version}",
        "featurelake.labels_version": str(labels_version),
    }
    found = client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id, tags=tags)
    return str(found.version)


def contents(store: DeltaStore, tables: list[LakeTable]) -> dict[str, pl.DataFrame]:
    """Every row of every table, in one order (to compare before and after maintenance)."""
    return {t.path: (frame := store.read(t.path)).sort(frame.columns, nulls_last=True) for t in tables}


def partitions(store: DeltaStore, path: str) -> int:
    columns = store.existing(path).metadata().partition_columns
    return max(1, store.read(path).select(columns).n_unique()) if columns else 1


def by_table(reports: list[TableReport]) -> dict[str, TableReport]:
    return {r.table: r for r in reports}


def test_small_files_stay_bounded_rows_stay_the_same_and_what_a_model_needs_stays_readable(
    lake: Settings, tmp_path: Path
) -> None:
    store, found = DeltaStore(lake), catalog.load(lake.features_module)
    chunks = transaction_chunks(60)
    labels = ingest(store, DATA.labels, "fraud_labels/all.parquet")
    trained_bronze = ingest_chunks(store, chunks[:30], 0)[-1].bronze_version
    assert trained_bronze is not None
    assert labels.bronze_version is not None
    pinned = publish(store, trained_bronze)
    register_model(lake, tmp_path / "artifacts", pinned, labels.bronze_version)
    trained_on, bronze_then = store.read(FEATURES, pinned), store.read(BRONZE, trained_bronze)
    raw_then = model_lineage(lake, MODEL, "1").raw_objects()
    compacted_away: list[int] = []

    for round_ in range(3):
        landed = ingest_chunks(store, chunks[30 + 10 * round_ : 40 + 10 * round_], 30 + 10 * round_)
        compacted_away.append(landed[0].bronze_version or -1)
        publish(store, landed[-1].bronze_version or -1)
        tables = lake_tables(store, found)
        before = contents(store, tables)

        reports = by_table(maintain_lake(lake, found, OPTIONS))

        assert {path: r.error for path, r in reports.items() if r.error} == {}
        after = contents(store, tables)
        assert all(after[path].equals(rows) for path, rows in before.items()), "maintenance changed rows"
        bronze = reports[BRONZE]
        assert bronze.files_before >= 10
        assert bronze.compacted == bronze.files_before
        assert bronze.files_after == 1
        for path, report in reports.items():
            assert report.files_after < partitions(store, path) * OPTIONS.min_small_files, path
        assert reports[FEATURES].protected_versions == (pinned,)
        assert bronze.protected_versions == (trained_bronze,)

    assert [t.path for t in lake_tables(store, found)] == [
        bronze_path("fraud_labels"),
        ingest_log_path("fraud_labels"),
        BRONZE,
        quarantine_path("transactions"),
        ingest_log_path("transactions"),
        FEATURES,
    ]
    assert store.read(FEATURES, pinned).equals(trained_on)  # the model's training data
    assert store.read(BRONZE, trained_bronze).equals(bronze_then)  # and what its lineage reads
    lineage = model_lineage(lake, MODEL, "1")
    assert lineage.raw_objects() == raw_then
    assert not [w for w in lineage.warnings if "no commit" in w or "vacuum" in w]
    for version in compacted_away:  # versions no model needs lost the small files compaction replaced
        with pytest.raises(Exception, match=r"(?i)not found|no such file"):
            store.read(BRONZE, version)
    compactions = [c for c in store.history(BRONZE) if c.get("featurelake.operation") == "compact"]
    assert len(compactions) == 3
    assert {(c["operation"], c["featurelake.actor"]) for c in compactions} == {("OPTIMIZE", "test")}


def backdate_log(store: DeltaStore, path: str, days: int) -> Path:
    """Make every log entry of a table look ``days`` old (log retention is judged by file age)."""
    log = Path(store.uri(path)) / "_delta_log"
    moment = (dt.datetime.now(dt.UTC) - timedelta(days=days)).timestamp()
    for entry in log.iterdir():
        os.utime(entry, (moment, moment))
    return log


def test_checkpoints_let_tables_load_once_the_expired_log_is_gone_and_pinned_versions_keep_theirs(
    lake: Settings, tmp_path: Path
) -> None:
    store, found = DeltaStore(lake), catalog.load(lake.features_module)
    chunks = transaction_chunks(24)
    labels = ingest(store, DATA.labels, "fraud_labels/all.parquet")
    trained_bronze = ingest_chunks(store, chunks[:12], 0)[-1].bronze_version or -1
    pinned = publish(store, trained_bronze)
    register_model(lake, tmp_path / "artifacts", pinned, labels.bronze_version or -1)
    publish(store, ingest_chunks(store, chunks[12:], 12)[-1].bronze_version or -1)

    first = by_table(maintain_lake(lake, found, OPTIONS))

    for path, report in first.items():
        assert report.checkpoint is not None
        assert (Path(store.uri(path)) / "_delta_log" / f"{report.checkpoint:020d}.checkpoint.parquet").is_file()
    tables = lake_tables(store, found)
    expected = contents(store, tables)
    logs = {t.path: backdate_log(store, t.path, days=60) for t in tables}  # past the 30-day log retention

    second = by_table(maintain_lake(lake, found, OPTIONS))

    assert {path: r.error for path, r in second.items() if r.error} == {}
    quarantine = quarantine_path("transactions")
    for path in (quarantine, ingest_log_path("transactions")):  # nothing pinned: the log up to the checkpoint goes
        assert not (logs[path] / f"{0:020d}.json").exists()
        assert second[path].log_kept_from == second[path].version_after
        assert store.read(path).sort(expected[path].columns, nulls_last=True).equals(expected[path])
    assert second[FEATURES].log_kept_from == pinned
    assert second[BRONZE].log_kept_from == trained_bronze
    assert second[bronze_path("fraud_labels")].log_kept_from == labels.bronze_version
    assert store.read(FEATURES, pinned).height > 0  # still loadable: its log entries were kept
    assert store.read(BRONZE, trained_bronze).height > 0
    for path in (FEATURES, BRONZE):  # writers no longer clean these logs behind maintenance's back
        assert not maintenance.writers_clean_log(store.existing(path))
    assert maintenance.writers_clean_log(store.existing(quarantine))


def rewrite(store: DeltaStore, chunk: pl.DataFrame, key: str) -> IngestResult:
    """A producer re-sends an object with new content: ingest replaces its rows (a predicate overwrite)."""
    return ingest(store, chunk.with_columns(pl.col("amount") + 1.0), key)


def expected_bronze(chunks: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """What bronze must hold: each object's accepted rows once, as its latest version has them."""
    frames = [c.filter(pl.col("amount") >= 0).select("txn_id", "amount") for c in chunks.values()]
    return pl.concat(frames).sort("txn_id")


def bronze_rows(store: DeltaStore) -> pl.DataFrame:
    return store.read(BRONZE, columns=["txn_id", "amount"]).sort("txn_id")


def test_an_ingest_that_loses_its_commit_race_to_a_compaction_is_redone_on_the_compacted_table(
    lake: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DeltaStore(lake)
    chunks = {f"transactions/chunk-{i:03d}.parquet": c for i, c in enumerate(transaction_chunks(8))}
    for key, chunk in chunks.items():
        ingest(store, chunk, key)
    compacted: list[dict[str, Any]] = []
    attempts: list[int] = []

    def compaction_first(target: Any, *args: Any, **kwargs: Any) -> Any:
        """Let a compaction commit after the overwrite read its snapshot and before it commits (once)."""
        if isinstance(target, DeltaTable) and target.table_uri.rstrip("/").endswith(BRONZE):
            attempts.append(target.version())
            if not compacted:
                metadata = {"featurelake.operation": "compact"}
                compacted.append(maintenance.compact(store.existing(BRONZE), 2**27, {}, metadata))
        return write_deltalake(target, *args, **kwargs)

    monkeypatch.setattr(delta_module, "write_deltalake", compaction_first)
    key = "transactions/chunk-003.parquet"
    chunks[key] = chunks[key].with_columns(pl.col("amount") + 1.0)
    before = store.version(BRONZE) or 0

    ingest(store, chunks[key], key)

    assert [metrics["numFilesRemoved"] for metrics in compacted] == [8]
    assert attempts == [before, before + 1]  # read the snapshot before the compaction, lost, redone after it
    operations = [c["operation"] for c in reversed(store.history(BRONZE)) if int(c["version"]) > before]
    assert operations == ["OPTIMIZE", "WRITE"]  # the overwrite lost to the compaction, then was redone
    assert bronze_rows(store).equals(expected_bronze(chunks))


def test_a_compaction_that_loses_its_commit_race_to_an_ingest_is_reported_and_changes_nothing(
    lake: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, found = DeltaStore(lake), catalog.load(lake.features_module)
    chunks = {f"transactions/chunk-{i:03d}.parquet": c for i, c in enumerate(transaction_chunks(8))}
    for key, chunk in chunks.items():
        ingest(store, chunk, key)
    real_compact = maintenance.compact
    key = "transactions/chunk-005.parquet"

    def ingest_first(table: DeltaTable, *args: Any) -> dict[str, Any]:
        """An ingest rewrites an object after the compaction planned on its snapshot."""
        if table.table_uri.rstrip("/").endswith(BRONZE):
            chunks[key] = chunks[key].with_columns(pl.col("amount") + 1.0)
            ingest(store, chunks[key], key)
        return real_compact(table, *args)

    monkeypatch.setattr(maintenance, "compact", ingest_first)
    bronze = next(t for t in lake_tables(store, found) if t.path == BRONZE)

    report = maintain_table(store, bronze, model_pins(lake, store, found), OPTIONS)

    assert report.error is None
    assert report.compacted == 0
    assert any("lost a commit race" in note for note in report.notes)
    assert "OPTIMIZE" not in [c["operation"] for c in store.history(BRONZE)]
    assert bronze_rows(store).equals(expected_bronze(chunks))
    monkeypatch.setattr(maintenance, "compact", real_compact)
    assert maintain_table(store, bronze, model_pins(lake, store, found), OPTIONS).compacted == 8  # next run


def test_concurrent_ingests_and_maintenance_leave_every_row_once(lake: Settings, tmp_path: Path) -> None:
    store, found = DeltaStore(lake), catalog.load(lake.features_module)
    chunks = {f"transactions/chunk-{i:03d}.parquet": c for i, c in enumerate(transaction_chunks(30))}
    keys = list(chunks)
    labels = ingest(store, DATA.labels, "fraud_labels/all.parquet")
    trained_bronze = [ingest(store, chunks[key], key) for key in keys[:10]][-1].bronze_version or -1
    pinned = publish(store, trained_bronze)
    register_model(lake, tmp_path / "artifacts", pinned, labels.bronze_version or -1)
    trained_on, bronze_then = store.read(FEATURES, pinned), store.read(BRONZE, trained_bronze)
    done, errors = threading.Event(), []

    def producer() -> None:
        try:
            for n, key in enumerate(keys[10:]):
                ingest(store, chunks[key], key)
                if n % 4 == 0:  # and a re-sent object, whose rows are replaced
                    old = keys[n % 10]
                    chunks[old] = chunks[old].with_columns(pl.col("amount") + 1.0)
                    ingest(store, chunks[old], old)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    reports: list[TableReport] = []
    while not done.is_set():
        reports += maintain_lake(get_settings(), found, OPTIONS)
    thread.join()
    reports += maintain_lake(get_settings(), found, OPTIONS)

    assert errors == []
    assert {r.table: r.error for r in reports if r.error} == {}
    assert bronze_rows(store).equals(expected_bronze(chunks))
    assert store.read(BRONZE).select("txn_id").is_duplicated().sum() == 0
    assert store.read(FEATURES, pinned).equals(trained_on)
    assert store.read(BRONZE, trained_bronze).equals(bronze_then)
    assert not maintenance.writers_clean_log(store.existing(BRONZE))


def test_the_nightly_flow_maintains_every_table_and_fails_naming_the_one_that_failed(
    lake: Settings, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.maintain import maintain

    store = DeltaStore(lake)
    chunks = transaction_chunks(20)
    ingest(store, DATA.labels, "fraud_labels/all.parquet")
    publish(store, ingest_chunks(store, chunks, 0)[-1].bronze_version or -1)
    quarantine = quarantine_path("transactions")
    store.existing(quarantine).alter.set_table_properties({"delta.deletedFileRetentionDuration": "interval 30 days"})
    bronze_before = store.version(BRONZE)

    with pytest.raises(RuntimeError, match=rf"maintenance failed for \['{quarantine}'\]"):
        maintain(min_small_files=4)  # 7 days is below the 30 this quarantine table asks for: its vacuum is refused

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["maintenance"])),
            sort=ArtifactSort.CREATED_DESC,  # this run's: other tests' runs share the server
            limit=1,
        )
        (progress,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["maintenance-progress"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    rows = {row["table"]: row for row in json.loads(str(artifact.data))}
    assert set(rows) == {t.path for t in lake_tables(store, catalog.load(lake.features_module))}
    assert "invalid retention period" in rows[quarantine]["error"].lower()
    assert rows[quarantine]["error"].startswith("vacuum: ")
    assert {path: row["error"] for path, row in rows.items() if path != quarantine} == dict.fromkeys(
        set(rows) - {quarantine}, ""
    )
    assert rows[BRONZE]["files"] == "20 → 1"  # the other tables were still compacted
    assert store.version(BRONZE) == (bronze_before or 0) + 1
    assert float(str(progress.data)) == 100.0

    dry = maintain(min_small_files=4, dry_run=True, retain_hours=0, allow_short_retention=True)
    assert {str(row["versions"]).split(" → ")[0] == str(row["versions"]).split(" → ")[1] for row in dry} == {True}


def test_the_cli_reports_a_dry_run_and_changes_nothing(lake: Settings) -> None:
    store = DeltaStore(lake)
    for i, chunk in enumerate(transaction_chunks(6)):
        ingest(store, chunk, f"transactions/chunk-{i:03d}.parquet")
    version = store.version(BRONZE)

    shown = runner.invoke(app, ["maintain", "--dry-run", "--min-small-files", "4"], catch_exceptions=False)

    assert shown.exit_code == 0, shown.output
    assert "dry run" in shown.output
    bronze_line = next(line for line in shown.output.splitlines() if line.startswith(BRONZE))
    assert "6 → 6" in bronze_line
    assert "compact 6" in bronze_line
    assert store.version(BRONZE) == version

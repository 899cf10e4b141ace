"""History, rollback and vacuum of a feature table built by the real flows.

Real local S3 (moto), Delta, MLflow on SQLite and the Prefect test-harness server: three
publishes by ``build_features``, a model registered by ``retrain``, and the commands run both
through the Python API and through the ``featurelake`` CLI.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import events
from featurelake.core.fingerprint import fingerprint
from featurelake.core.naming import bronze_path, feature_set_resource_id
from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.maintenance import data_files
from featurelake.io.delta.store import DeltaStore
from featurelake.operate.history import feature_history
from featurelake.operate.rollback import announce_rollback, rollback
from featurelake.operate.vacuum import vacuum
from featurelake.settings import Settings
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from flows.retrain import retrain
from tests.integration.helpers import DATA, by_id, demo_objects, upload, wait_for_events

REF = CUSTOMER_TXN.ref
PATH = CUSTOMER_TXN.table_path
KEYS = [*CUSTOMER_TXN.entity_keys, CUSTOMER_TXN.event_time]
runner = CliRunner()


@pytest.fixture
def published(settings: Settings) -> list[dict[str, Any]]:
    """Three publishes of customer_txn:v1, two days of transactions each (labels land with the first).

    The second and third batches each carry a late transaction on an earlier day, so that their
    incremental builds rewrite days an earlier publish wrote (what makes old files vacuumable).
    """
    objects = demo_objects()
    days = sorted(k for k in objects if k.startswith("transactions/"))
    first = {k: v for k, v in objects.items() if not k.startswith("transactions/")}
    summaries = []
    for i, chunk in enumerate((days[:2], days[2:4], days[4:])):
        late = {} if i == 0 else {f"transactions/late/part-{i}.parquet": late_transaction(day_index=2 * i - 2, tag=i)}
        upload(settings, (first if i == 0 else {}) | {k: objects[k] for k in chunk} | late)
        ingest()
        summaries.append(build_features("customer_txn", 1))
    return summaries


def late_transaction(day_index: int, tag: int) -> bytes:
    """One transaction that arrives late, on the ``day_index``-th day of the demo data."""
    day = sorted(DATA.transactions["event_time"].dt.date().unique())[day_index]
    row = DATA.transactions.filter(pl.col("event_time").dt.date() == day).head(1)
    row = row.with_columns(
        (pl.col("txn_id") + f"-late-{tag}").alias("txn_id"), (pl.col("event_time") + timedelta(seconds=1))
    )
    buffer = io.BytesIO()
    row.write_parquet(buffer)
    return buffer.getvalue()


def rows_at(store: DeltaStore, version: int | None = None) -> pl.DataFrame:
    return store.read(PATH, version).sort(KEYS)


def _one_event(event_id: Any) -> Any:
    (event,) = wait_for_events(by_id(event_id))
    return event


def test_history_shows_the_audit_trail_and_rollback_restores_a_version_exactly(
    settings: Settings, published: list[dict[str, Any]]
) -> None:
    store = DeltaStore(settings)
    publishes = [row for row in feature_history(store, CUSTOMER_TXN) if row["action"] == "publish"]
    assert [row["version"] for row in publishes] == [s["delta_version"] for s in reversed(published)]
    for row, summary in zip(publishes, reversed(published), strict=True):
        assert row["operation"] == "WRITE"
        assert row["rows_added"] == summary["row_count"]
        assert row["suite_hash"] == summary["suite_hash"]
        assert row["fingerprint"] == fingerprint(CUSTOMER_TXN)
        assert row["code_revision"]
        assert row["bronze_version"] == str(summary["bronze_version"])
        assert row["timestamp"].endswith("+00:00")
    assert len({uuid.UUID(row["flow_run_id"]) for row in publishes}) == 3
    first, current = int(published[0]["delta_version"]), store.version(PATH)
    assert current is not None
    expected = rows_at(store, first)

    result = rollback(store, CUSTOMER_TXN, first, actor="test/alice", reason="day 3 had a bad feed")

    assert (result.previous_version, result.restored_to, result.new_version) == (current, first, current + 1)
    assert rows_at(store).equals(expected)
    assert store.version(PATH) == current + 1
    commit = store.history(PATH, 1)[0]
    assert commit["operation"] == "RESTORE"
    assert {k: commit.get(k) for k in ("featurelake.operation", "featurelake.actor", "featurelake.reason")} == {
        "featurelake.operation": "rollback",
        "featurelake.actor": "test/alice",
        "featurelake.reason": "day 3 had a bad feed",
    }
    assert (commit["featurelake.restored_to"], commit["featurelake.rolled_back_from"]) == (str(first), str(current))
    newest = feature_history(store, CUSTOMER_TXN, limit=1)[0]
    assert (newest["version"], newest["action"], newest["actor"]) == (current + 1, "rollback", "test/alice")
    assert (newest["reason"], newest["restored_to"]) == ("day 3 had a bad feed", str(first))
    assert rows_at(store, current).height > expected.height  # the rolled-back version stays readable

    event = _one_event(announce_rollback(settings, CUSTOMER_TXN, result))
    assert event.event == events.FEATURE_SET_ROLLED_BACK
    assert event.resource.id == feature_set_resource_id(CUSTOMER_TXN)
    assert events.FeatureSetRolledBack.model_validate(event.payload) == events.FeatureSetRolledBack(
        feature_set="customer_txn",
        feature_set_version=1,
        table_uri=store.uri(PATH),
        restored_to_version=first,
        new_delta_version=current + 1,
        reason="day 3 had a bad feed",
        actor="test/alice",
    )
    assert announce_rollback(settings, CUSTOMER_TXN, result) == str(event.id)  # deterministic: a re-emit collapses


def test_rollback_refuses_missing_and_current_versions_and_an_unexplained_rollback(
    settings: Settings, published: list[dict[str, Any]]
) -> None:
    store = DeltaStore(settings)
    current = store.version(PATH)
    first = int(published[0]["delta_version"])

    with pytest.raises(ValueError, match=rf"has no version 99: its versions are 0\.\.{current}"):
        rollback(store, CUSTOMER_TXN, 99, actor="a", reason="r")
    with pytest.raises(ValueError, match="has no version -1"):
        rollback(store, CUSTOMER_TXN, -1, actor="a", reason="r")
    with pytest.raises(ValueError, match=rf"already at version {current}"):
        rollback(store, CUSTOMER_TXN, current or 0, actor="a", reason="r")
    with pytest.raises(ValueError, match="why"):
        rollback(store, CUSTOMER_TXN, first, actor="a", reason="  ")
    assert store.version(PATH) == current


def test_cli_history_and_rollback(
    settings: Settings, published: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DeltaStore(settings)
    first, current = int(published[0]["delta_version"]), store.version(PATH)
    assert current is not None
    monkeypatch.setenv("FEATURELAKE_ACTOR", "ci/release-bot")

    shown = runner.invoke(app, ["history", REF])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("publish") == 3
    assert fingerprint(CUSTOMER_TXN)[:12] in shown.output

    rolled = runner.invoke(app, ["rollback", REF, "--to-version", str(first), "--reason", "bad feed"])
    assert rolled.exit_code == 0, rolled.output
    assert f"version {current} → {current + 1} (content of version {first};" in rolled.output
    assert "by ci/release-bot" in rolled.output
    expected_id = events.event_id(
        events.FEATURE_SET_ROLLED_BACK, feature_set_resource_id(CUSTOMER_TXN), f"{store.uri(PATH)}@{current + 1}"
    )
    assert f"event id {expected_id}" in rolled.output
    assert _one_event(expected_id).payload["actor"] == "ci/release-bot"
    after = runner.invoke(app, ["history", REF, "--limit", "1"])
    assert "ci/release-bot" in after.output
    assert after.output.rstrip().endswith(f"restored to {first}; reason: bad feed")

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        again = runner.invoke(app, ["rollback", REF, "--to-version", str(current), "--reason", "undo"])
    assert again.exit_code == 0, again.output
    assert "PREFECT_API_URL is not set: no featurelake.feature-set.rolled-back event was emitted" in again.output
    assert rows_at(store).equals(rows_at(store, current))

    missing = runner.invoke(app, ["rollback", REF, "--to-version", "99", "--reason", "x"])
    assert missing.exit_code == 1
    assert "has no version 99" in missing.output
    unknown = runner.invoke(app, ["history", "no_such_set:v1"])
    assert unknown.exit_code == 1
    assert "unknown feature set no_such_set:v1" in unknown.output


def test_vacuum_keeps_what_registered_models_were_trained_on(
    settings: Settings, published: list[dict[str, Any]]
) -> None:
    store = DeltaStore(settings)
    first, second = (int(s["delta_version"]) for s in published[:2])
    retrain("customer_txn", 1, delta_version=first)  # registers a model version pinned to the first publish
    trained_on, current_rows = rows_at(store, first), rows_at(store)
    protected_files, second_files = (data_files(store.existing(PATH, v)) for v in (first, second))
    before = lake_objects(settings)

    with pytest.raises(ValueError, match="allow a shorter retention"):
        vacuum(store, settings, CUSTOMER_TXN, timedelta(0), dry_run=True)
    shown = runner.invoke(
        app, ["vacuum", REF, "--retain-hours", "0", "--allow-short-retention", "--dry-run"], catch_exceptions=False
    )
    assert shown.exit_code == 0, shown.output
    assert f"protected versions (registered models trained on them): [{first}]" in shown.output
    assert "would delete" in shown.output
    assert lake_objects(settings) == before  # a dry run deletes nothing

    result = vacuum(store, settings, CUSTOMER_TXN, timedelta(0), dry_run=False, allow_short_retention=True, actor="t")

    assert result.protected_versions == (first,)
    assert set(result.kept) == protected_files - data_files(store.existing(PATH))
    assert result.kept, "no file of the protected version was replaced since: nothing tested"
    replaced_second = second_files - data_files(store.existing(PATH)) - protected_files
    assert replaced_second, "the third publish replaced none of the second's files: nothing tested"
    assert replaced_second <= set(result.removed)
    assert not set(result.removed) & protected_files
    remaining = lake_objects(settings)
    assert {f"{PATH}/{f}" for f in protected_files} <= remaining
    assert not {f"{PATH}/{f}" for f in result.removed} & remaining
    assert rows_at(store, first).equals(trained_on)  # the model's training data is still readable
    assert rows_at(store).equals(current_rows)
    with pytest.raises(FileNotFoundError, match="not found"):
        rows_at(store, second)  # an unprotected old version is gone
    operations = [c["operation"] for c in store.history(PATH, 2)]
    assert operations == ["VACUUM END", "VACUUM START"]
    assert store.history(PATH, 1)[0]["featurelake.protected_versions"] == str(first)


def lake_objects(settings: Settings) -> set[str]:
    """Every object key under the feature table, listed straight from S3."""
    client = s3_client(settings)
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=f"{PATH}/"):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return keys


def test_the_nightly_maintenance_flow_vacuums_every_table_but_keeps_model_versions(
    settings: Settings, published: list[dict[str, Any]]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.maintain import maintain

    store = DeltaStore(settings)
    first = int(published[0]["delta_version"])
    retrain("customer_txn", 1, delta_version=first)
    trained_on = rows_at(store, first)
    bronze = bronze_path("transactions")
    read_by_first = store.read(bronze, int(published[0]["bronze_version"]))

    with pytest.raises(RuntimeError, match=rf"maintenance failed for \[.*'{PATH}'"):
        maintain(retain_hours=0)  # below the tables' minimum retention without saying so: refused, nothing deleted
    assert rows_at(store, int(published[1]["delta_version"])).height > 0

    rows = {row["table"]: row for row in maintain(retain_hours=0, allow_short_retention=True, min_small_files=2)}

    assert "features/merchant_txn/v1" not in rows  # never published here: skipped
    assert rows[PATH]["protected_versions"] == str(first)
    assert rows[bronze]["protected_versions"] == str(published[0]["bronze_version"])  # what the model's lineage reads
    assert str(rows[bronze]["files"]).endswith("→ 1")  # each ingest's file, compacted into one
    assert rows[bronze]["removed"] > 0  # the compacted files no model needs: deleted from S3
    assert rows[bronze]["kept_for_models"] > 0  # those of the bronze version the model's features came from: kept
    assert rows_at(store, first).equals(trained_on)
    assert store.read(bronze, int(published[0]["bronze_version"])).equals(read_by_first)
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["maintenance"])))
    succeeded = [a for a in found if PATH in str(a.data) and '"error": "vacuum' not in str(a.data)]
    assert succeeded  # the run that succeeded left its table in the UI

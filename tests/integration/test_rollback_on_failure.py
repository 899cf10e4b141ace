"""A build that fails after publishing restores the table (Prefect transaction, on_rollback hook),
records the rollback in the audit trail, announces it, and the next build publishes again."""

from __future__ import annotations

import pytest

from featurelake.core.events import FEATURE_SET_ROLLED_BACK, at, event_id
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.delta.feature_tables import read_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings, get_settings
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from tests.integration.helpers import by_id, demo_objects, upload, wait_for_events


def test_a_failure_after_the_publish_restores_the_table_and_a_rerun_publishes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = demo_objects()
    txn_keys = sorted(k for k in objects if k.startswith("transactions/"))
    upload(settings, {k: v for k, v in objects.items() if k not in txn_keys[3:]})
    ingest()
    first = build_features("customer_txn", 1)
    upload(settings, {k: objects[k] for k in txn_keys[3:]})
    ingest()
    store = DeltaStore(settings)
    before = read_feature_table(store, CUSTOMER_TXN).frame
    monkeypatch.setenv(
        "FEATURELAKE_MLFLOW_TRACKING_URI", "sqlite:////proc/featurelake/unwritable.db"
    )  # fails after the publish
    get_settings.cache_clear()

    with pytest.raises(FileNotFoundError, match="/proc/featurelake"):
        build_features("customer_txn", 1)

    latest = store.history(CUSTOMER_TXN.table_path, 2)
    rollback, failed_publish = latest
    assert failed_publish["featurelake.bronze_version"] != first["bronze_version"]  # the second batch did land ...
    assert rollback["featurelake.operation"] == "rollback"  # ... and was taken back
    assert int(rollback["featurelake.restored_to"]) == first["delta_version"]
    assert rollback["featurelake.actor"].startswith("flow-run/")
    assert read_feature_table(store, CUSTOMER_TXN).frame.equals(before)
    discriminator = at(store.uri(CUSTOMER_TXN.table_path), rollback["version"])  # this lake's rollback, no other test's
    expected = event_id(FEATURE_SET_ROLLED_BACK, feature_set_resource_id(CUSTOMER_TXN), discriminator)
    (event,) = wait_for_events(by_id(expected))
    assert event.payload["restored_to_version"] == first["delta_version"]
    assert event.payload["new_delta_version"] == rollback["version"]

    monkeypatch.setenv("FEATURELAKE_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    get_settings.cache_clear()
    again = build_features("customer_txn", 1)

    assert again["delta_version"] > rollback["version"]  # published anew, not the withdrawn batch re-announced
    assert read_feature_table(store, CUSTOMER_TXN).frame.height > before.height

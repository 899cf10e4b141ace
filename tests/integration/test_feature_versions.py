"""Features as code, end to end on real S3 (moto), Delta and Prefect: the user's edit cycle.

A user changes a feature, `plan` refuses it without a bump, the build refuses it too; with a
bump, v2 is built beside v1, and training sets can be pinned to either version and to old
Delta versions of each.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.io.delta.registry import FeatureRegistry, RegistryMismatchError
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings, get_settings
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from tests.catalogs.bumped import CUSTOMER_TXN_V2
from tests.integration.helpers import DATA, demo_objects, upload

RUNNER = CliRunner()


def _use_features(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setenv("FEATURELAKE_FEATURES_MODULE", module)
    get_settings.cache_clear()


def test_plan_refuses_an_unbumped_change_and_v2_is_built_beside_v1(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(settings, demo_objects())
    ingest()
    v1_version = build_features("customer_txn", 1)["delta_version"]  # the first build registers customer_txn:v1

    pending = RUNNER.invoke(app, ["plan"])
    assert pending.exit_code == 0, pending.output
    assert "merchant_txn:v1" in pending.output
    assert "new feature set" in pending.output
    applied = RUNNER.invoke(app, ["apply"])
    assert applied.exit_code == 0, applied.output
    assert "recorded 1 change(s)" in applied.output
    assert "The registry matches the code." in RUNNER.invoke(app, ["plan"]).output

    refused = RUNNER.invoke(app, ["plan", "--features-module", "tests.catalogs.changed"])
    assert refused.exit_code == 1
    assert "customer_txn:v1" in refused.output
    assert "changed without version bump" in refused.output
    assert "feature 'amount_sum_24h' logic changed" in refused.output
    assert "Bump the version to 2" in refused.output
    not_applied = RUNNER.invoke(app, ["apply", "--features-module", "tests.catalogs.changed"])
    assert not_applied.exit_code == 1
    _use_features(monkeypatch, "tests.catalogs.changed")
    with pytest.raises(RegistryMismatchError, match=r"customer_txn:v1: feature 'amount_sum_24h' logic changed"):
        build_features("customer_txn", 1)

    bumped = RUNNER.invoke(app, ["plan", "--features-module", "tests.catalogs.bumped"])
    assert bumped.exit_code == 0, bumped.output
    assert "customer_txn:v2" in bumped.output
    assert "new version" in bumped.output
    _use_features(monkeypatch, "tests.catalogs.bumped")
    v2 = build_features("customer_txn", 2)

    store = DeltaStore(settings)
    assert v2["table_uri"] == store.uri("features/customer_txn/v2")
    assert store.version(CUSTOMER_TXN.table_path) == v1_version  # v1 untouched
    records = {r.ref: r for r in FeatureRegistry(store).records()}
    assert set(records) == {"customer_txn:v1", "customer_txn:v2", "merchant_txn:v1"}
    assert records["customer_txn:v1"].fingerprint != records["customer_txn:v2"].fingerprint

    api = FeatureStore(store, [CUSTOMER_TXN, CUSTOMER_TXN_V2])
    both = api.get_training_set(
        DATA.labels.select("customer_id", "event_time", "is_fraud"),
        ["customer_txn:v1:amount_sum_24h", "customer_txn:v2:amount_sum_24h"],
        full_names=True,
    )
    day, half = both.frame["customer_txn__v1__amount_sum_24h"], both.frame["customer_txn__v2__amount_sum_24h"]
    assert (day - half >= -1e-6).all()  # a 12-hour window never holds more spend than the 24-hour one
    assert (day > half).any()
    assert [e["ref"] for e in both.manifest["feature_sets"]] == ["customer_txn:v1", "customer_txn:v2"]
    assert [e["fingerprint"] for e in both.manifest["feature_sets"]] == [
        records["customer_txn:v1"].fingerprint,
        records["customer_txn:v2"].fingerprint,
    ]


def test_training_pinned_to_an_old_delta_version_ignores_newer_publishes(settings: Settings) -> None:
    objects = demo_objects()
    txn_keys = sorted(k for k in objects if k.startswith("transactions/"))
    early = {k: v for k, v in objects.items() if k not in txn_keys[3:]}
    upload(settings, early)
    ingest()
    first = build_features("customer_txn", 1)
    upload(settings, {k: objects[k] for k in txn_keys[3:]})
    ingest()
    second = build_features("customer_txn", 1)
    old, new = first["delta_version"], second["delta_version"]
    assert new == old + 1

    api = FeatureStore(DeltaStore(settings), [CUSTOMER_TXN])
    spine = DATA.labels.select("customer_id", "event_time", "is_fraud")
    pinned = api.get_training_set(spine, ["customer_txn:v1"], pins={"customer_txn:v1": old})
    latest = api.get_training_set(spine, ["customer_txn:v1"])

    assert pinned.manifest["feature_sets"][0]["delta_version"] == old
    assert latest.manifest["feature_sets"][0]["delta_version"] == new
    late = spine["event_time"].dt.day() >= 4  # transactions of days 4-6 were published only in the newer version
    assert latest.frame.filter(late)["amount_count_1h"].min() == 1  # each labelled txn is in its own window
    assert not pinned.frame.filter(late).equals(latest.frame.filter(late))
    assert pinned.frame.filter(~late).equals(latest.frame.filter(~late))  # history did not move

    unknown = RUNNER.invoke(app, ["read", "customer_txn:v7"])
    assert unknown.exit_code == 1
    assert "unknown feature set customer_txn:v7" in unknown.output

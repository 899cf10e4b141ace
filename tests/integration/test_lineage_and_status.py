"""Lineage walked from a registered model to raw object keys + ETags; status of every feature set.

One real chain per module (moto S3, Delta, GX, MLflow on SQLite, the Prefect test harness):
four days of transactions are ingested in chunks and published, two more days are ingested
and published, and the model is retrained pinned to the FIRST publish. The lineage must name
only the first four days' objects, although bronze has moved on since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import catalog
from featurelake.io.aws.raw import list_raw_objects
from featurelake.lineage.models import LineageChain, model_lineage
from featurelake.observe.status import FRESH, NEVER_PUBLISHED, STALE, StatusRow, drift_from_run, feature_set_status
from featurelake.settings import Settings, get_settings
from featurelake.validate.gate import ValidationFailedError
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from flows.retrain import retrain
from tests.conftest import isolated_settings
from tests.integration.helpers import demo_objects, upload

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Chain:
    """What the module's one real run produced."""

    settings: Settings
    first: dict[str, object]
    second: dict[str, object]
    model: dict[str, object]
    early: dict[str, bytes]


@pytest.fixture(scope="module")
def chain(prefect_api: None, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """upload → ingest (chunked) → build → upload more → ingest → build → retrain pinned to the first publish."""
    objects = demo_objects()
    days = sorted(k for k in objects if k.startswith("transactions/"))
    early = {k: v for k, v in objects.items() if k not in days[4:]}
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = isolated_settings(s3_endpoint, tmp_path_factory.mktemp("lineage"), monkeypatch)
        upload(settings, early)
        ingest(objects_per_commit=2)  # several bronze commits: lineage must read rows, not one commit
        first = build_features("customer_txn", 1)
        upload(settings, {k: objects[k] for k in days[4:]})
        ingest()
        second = build_features("customer_txn", 1)
        model = retrain("customer_txn", 1, delta_version=int(str(first["delta_version"])))
        yield Chain(settings, first, second, model, early)
    get_settings.cache_clear()


def _lineage(chain: Chain) -> LineageChain:
    return model_lineage(chain.settings, str(chain.model["model"]), str(chain.model["model_version"]))


def _listed(settings: Settings, prefix: str, keys: set[str]) -> set[tuple[str, str]]:
    return {(o.key, o.etag) for o in list_raw_objects(settings, prefix) if o.key in keys}


def test_lineage_walks_from_the_model_to_the_raw_objects_of_the_pinned_version(chain: Chain) -> None:
    lineage = _lineage(chain)

    assert lineage.model_version == str(chain.model["model_version"])
    (feature,) = lineage.training_set.feature_sets
    assert (feature.ref, feature.delta_version) == ("customer_txn:v1", chain.first["delta_version"])
    assert feature.table_uri == chain.settings.table_uri(CUSTOMER_TXN.table_path)
    assert feature.fingerprint == chain.first["fingerprint"]
    assert feature.suite_hash == chain.first["suite_hash"]
    assert feature.build_run_id == chain.first["mlflow_run_id"]
    assert feature.code_revision
    assert feature.flow_run_id
    assert feature.bronze is not None
    assert feature.bronze.delta_version == chain.first["bronze_version"] != chain.second["bronze_version"]
    early_txn = {k for k in chain.early if k.startswith("transactions/")}
    assert len(early_txn) == 4
    expected = _listed(chain.settings, "transactions/", early_txn)
    assert {(o.key, o.etag) for o in feature.bronze.objects} == expected  # nothing of the later days
    assert all(o.logged and o.note is None for o in feature.bronze.objects)
    assert lineage.warnings == ()


def test_lineage_names_the_label_objects_the_spine_was_read_from(chain: Chain) -> None:
    labels = _lineage(chain).training_set.labels

    assert labels is not None
    assert labels.source == "fraud_labels"
    label_keys = {k for k in chain.early if k.startswith("fraud_labels/")}
    assert {(o.key, o.etag) for o in labels.objects} == _listed(chain.settings, "fraud_labels/", label_keys)
    assert _lineage(chain).training_set.spine_rows == labels.rows


def test_lineage_cli_prints_the_chain_and_json(chain: Chain) -> None:
    runner = CliRunner()
    args = ["lineage", "--model", str(chain.model["model"]), "--version", str(chain.model["model_version"])]

    text = runner.invoke(app, args)
    as_json = runner.invoke(app, [*args, "--json"])

    assert text.exit_code == 0, text.output
    assert f"feature set customer_txn:v1 @ Delta version {chain.first['delta_version']}" in text.output
    assert f"bronze transactions @ Delta version {chain.first['bronze_version']}" in text.output
    assert all(key in text.output for key in chain.early)
    assert as_json.exit_code == 0, as_json.output
    parsed = json.loads(as_json.stdout)  # stderr may carry MLflow's download progress
    objects = parsed["training_set"]["feature_sets"][0]["bronze"]["objects"]
    assert {o["key"] for o in objects} == {k for k in chain.early if k.startswith("transactions/")}


def test_lineage_of_an_unknown_model_version_exits_1_with_a_message(chain: Chain) -> None:
    result = CliRunner().invoke(app, ["lineage", "--model", str(chain.model["model"]), "--version", "99"])

    assert result.exit_code == 1
    assert "has no version '99'" in result.output


def _status(chain: Chain, after: timedelta) -> dict[str, StatusRow]:
    found = catalog.load(chain.settings.features_module)
    published = {r.ref: r for r in feature_set_status(chain.settings, found, _utc_now())}
    moment = published["customer_txn:v1"].last_publish_time
    assert moment is not None
    return {r.ref: r for r in feature_set_status(chain.settings, found, moment + after)}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def test_status_is_fresh_after_a_publish_and_stale_past_max_staleness(chain: Chain) -> None:
    assert CUSTOMER_TXN.max_staleness is not None
    fresh = _status(chain, timedelta(minutes=5))["customer_txn:v1"]
    stale = _status(chain, CUSTOMER_TXN.max_staleness + timedelta(minutes=1))["customer_txn:v1"]

    assert fresh.freshness == FRESH
    assert stale.freshness == STALE
    assert fresh.last_publish_version == chain.second["delta_version"]
    assert fresh.last_version is not None
    assert fresh.last_version >= fresh.last_publish_version  # an ALTER (constraints) may follow a publish
    assert fresh.validation is not None
    assert fresh.validation.passed
    assert fresh.validation.delta_version == chain.second["delta_version"]
    assert (fresh.validation.evaluated or 0) >= 30
    assert fresh.validation.failed == 0


def test_status_reports_a_feature_set_never_published(chain: Chain) -> None:
    merchant = _status(chain, timedelta(0))["merchant_txn:v1"]

    assert merchant.freshness == NEVER_PUBLISHED
    assert (merchant.last_version, merchant.last_publish_time, merchant.validation) == (None, None, None)


def test_status_reports_the_batch_the_gate_blocked(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_FEATURES_MODULE", "tests.catalogs.strict")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationFailedError):
            build_features("customer_txn_strict", 1)
    finally:
        get_settings.cache_clear()  # the next get_settings() reads the module's environment again

    found = catalog.load("tests.catalogs.strict")
    strict = {r.ref: r for r in feature_set_status(chain.settings, found, _utc_now())}["customer_txn_strict:v1"]

    assert strict.freshness == NEVER_PUBLISHED
    assert strict.validation is not None
    assert not strict.validation.passed
    assert strict.validation.bronze_version == chain.second["bronze_version"]
    assert (strict.validation.failed or 0) >= 1
    assert strict.validation.describe().startswith("FAILED")


def test_status_cli_prints_every_feature_set_and_json(chain: Chain) -> None:
    runner = CliRunner()

    text = runner.invoke(app, ["status"])
    as_json = runner.invoke(app, ["status", "--json"])

    assert text.exit_code == 0, text.output
    lines = {line.split()[0]: line for line in text.output.splitlines()[1:]}
    assert "fresh" in lines["customer_txn:v1"]
    assert "passed" in lines["customer_txn:v1"]
    assert NEVER_PUBLISHED in lines["merchant_txn:v1"]
    rows = {r["ref"]: r for r in json.loads(as_json.stdout)}
    assert rows["customer_txn:v1"]["freshness"] == FRESH
    assert rows["merchant_txn:v1"]["freshness"] == NEVER_PUBLISHED


def test_drift_is_read_from_either_metric_spelling() -> None:
    run = {
        "run_id": "r1",
        "tags": {"featurelake.delta_version": "3"},
        "metrics": {"drift_psi.amount_sum_7d": 0.31, "drift_ks.amount_sum_7d": 0.2, "drift_breached_features": 1.0},
    }
    legacy = {"run_id": "r2", "tags": {}, "metrics": {"drift_psi_txn_count_1h": 0.05, "drift_breached": 0.0}}

    drift = drift_from_run(run)
    assert drift is not None
    assert (drift.breached_features, drift.psi, drift.ks) == (1, {"amount_sum_7d": 0.31}, {"amount_sum_7d": 0.2})
    assert "1 breached" in drift.describe()
    assert drift_from_run(legacy) is not None
    assert drift_from_run({"run_id": "r3", "tags": {}, "metrics": {"validation_success": 1.0}}) is None

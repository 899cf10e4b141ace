"""The whole chain through a real Prefect server, `prefect deploy --all`, a process worker, real automations.

Nothing is started by the test: it drops good, bad and duplicate objects into the raw bucket.
The stack's event source announces them (the raw bucket's notifications → SQS →
``featurelake.raw-object.landed``; the ``watch-raw/safety-net`` schedule is only a fallback), the
automation on ``featurelake.raw-object.landed`` starts one ingest, the automation on
``featurelake.bronze-table.appended`` the build, and the debounced one on
``featurelake.feature-set.published`` the retrain, with the Delta version as a typed int.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
import pytest
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

from featurelake.core.naming import bronze_path, feature_table_path, quarantine_path
from featurelake.ingest.bronze import ingest_log_path
from featurelake.io.delta.store import DeltaStore
from featurelake.local import synthetic
from featurelake.local.demo import INGEST, RETRAIN, run_chain
from featurelake.local.stack import LocalStack
from featurelake.settings import Settings, get_settings
from features.models import FRAUD_MODEL
from tests.integration.helpers import by_id, wait_for_events
from tests.pii_scan import file_findings, lake_findings, pii_needles

pytestmark = pytest.mark.e2e
DATA = synthetic.generate()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The embedded stack on free ports, deployments/prefect.yaml deployed to it, and a process worker."""
    local = LocalStack(tmp_path_factory.mktemp("stack"), project_dir=Path.cwd(), prefect_port=None, mlflow_port=None)
    monkeypatch = pytest.MonkeyPatch()
    try:
        env = local.start(say=print)
        for key, value in env.items():
            if key.startswith(("FEATURELAKE_", "AWS_", "PREFECT_")):
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        local.deploy_and_start_worker(print)
        yield local
    finally:
        local.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def chain(stack: LocalStack) -> Iterator[dict[str, Any]]:
    """Run the chain once (as ``make demo`` does) and keep the Prefect API pointed at the stack."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.env["PREFECT_API_URL"]}):
        yield run_chain(stack, stage_timeout=300, say=print)


def test_publish_event_starts_a_retrain_that_completes_with_the_published_version(chain: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        retrain_run = client.read_flow_run(chain["retrain_run_id"])
        deployment = client.read_deployment_by_name(RETRAIN)

    settings = Settings()
    params = retrain_run.parameters
    table = DeltaStore(settings).uri(feature_table_path(params["feature_set"], params["feature_set_version"]))
    published, _ = chain["tables"][table]  # as the chain left it before its production leg published again
    assert retrain_run.state is not None
    assert retrain_run.state.is_completed()
    assert retrain_run.deployment_id == deployment.id
    assert retrain_run.created_by is not None
    assert retrain_run.created_by.type == "AUTOMATION"
    assert params == {
        "model": FRAUD_MODEL.name,
        "feature_set": "customer_txn",
        "feature_set_version": 1,
        "delta_version": published,
    }
    assert isinstance(params["delta_version"], int)

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name = '{FRAUD_MODEL.name}'")
    mine = [v for v in versions if v.tags.get("featurelake.flow_run_id") == str(retrain_run.id)]
    assert len(mine) == 1
    assert mine[0].tags["featurelake.delta_version"] == str(published)
    assert mine[0].tags["featurelake.feature_set"] == "customer_txn:v1"
    assert mine[0].tags["featurelake.feature_table"] == DeltaStore(settings).uri(feature_table_path("customer_txn", 1))


def test_dropped_objects_end_in_bronze_once_and_quarantine_with_reasons(chain: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ingest_run = client.read_flow_run(chain["ingest_run_id"])
        ingest_runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[client.read_deployment_by_name(INGEST).id]))
        )
    assert ingest_run.created_by is not None
    assert ingest_run.created_by.type == "AUTOMATION"
    # A burst of landed events (two uploads of each object) made one run; the production leg's new
    # transaction, landed after the retrain, the second. (The erasure leg's raw rewrites land after.)
    erasure = chain["erasure"]
    started = dt.datetime.fromisoformat(erasure["started_at"])
    assert len([r for r in ingest_runs if r.created is not None and r.created < started]) == 2

    settings = Settings()
    store = DeltaStore(settings)
    bronze = store.read(bronze_path("transactions"))
    # the production leg's new transaction, less the erased customer's
    assert bronze.height == DATA.transactions.height + 1 - erasure["rows_removed"]
    assert erasure["customer"] not in set(bronze["customer_id"])
    assert bronze["txn_id"].n_unique() == bronze.height
    quarantine = store.read(quarantine_path("transactions"))
    reasons = quarantine["_reason"].to_list()
    problems = synthetic.problem_objects(DATA)
    resent = pl.read_parquet(io.BytesIO(problems[next(k for k in problems if "resent" in k)]))
    resent_rows = resent.filter(pl.col("customer_id") != erasure["customer"]).height  # the erased customer's: gone
    assert sum(r.startswith("duplicate primary key ['txn_id']") for r in reasons) == resent_rows
    assert any(r.startswith("transactions/late/truncated.parquet:") for r in reasons)
    assert any(r.startswith("transactions/late/empty.csv:") for r in reasons)
    assert any("undeclared column(s) ['backup_email']" in r for r in reasons)
    assert "customer_id: required but null" in reasons
    log = store.read(ingest_log_path("transactions"))
    _, _, landed_later = synthetic.new_transaction(DATA)  # the production leg's new transaction
    raw_keys = {k for k in {**synthetic.raw_objects(DATA), **problems, **landed_later} if k.startswith("transactions/")}
    assert sorted(log["_source_key"]) == sorted(raw_keys)  # each object once, duplicates of events collapsed
    assert int(log["rows_accepted"].sum()) == bronze.height
    assert int(log["rows_quarantined"].sum()) == quarantine.height


def test_no_raw_pii_anywhere_the_chain_left_data(chain: dict[str, Any], stack: LocalStack) -> None:
    """Lake tables and objects; MLflow's database and artifacts; Prefect's database (logs, artifacts,
    events, results); every service log."""
    needles = pii_needles(DATA.transactions)
    settings = Settings()

    assert lake_findings(settings, needles) == []
    assert file_findings(stack.state_dir, needles) == []
    assert (stack.state_dir / "mlartifacts").is_dir()
    assert (stack.state_dir / "prefect" / "prefect.db").is_file()


def test_a_feature_set_without_a_publish_in_time_is_announced_stale(chain: dict[str, Any]) -> None:
    """The served freshness flow, started by a proactive automation (10 s here instead of 24 h)."""
    import datetime as dt
    import time

    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.events.actions import RunDeployment
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.schemas.automations import EventTrigger, Posture

    resource = "featurelake.feature-set.merchant_txn.v1"
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("feature-set-stale/merchant-txn-v1-stale")
    Automation(
        name="e2e: merchant_txn v1 stale after 10 s",
        trigger=EventTrigger(
            match={"prefect.resource.id": resource},
            expect={"featurelake.feature-set.published"},
            posture=Posture.Proactive,
            threshold=1,
            within=dt.timedelta(seconds=10),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment.id,
                parameters={"feature_set": "merchant_txn", "version": 1},
            )
        ],
    ).create()

    deadline, found = time.monotonic() + 180, []
    with get_client(sync_client=True) as client:
        while not found and time.monotonic() < deadline:
            stale_filter = EventFilter(  # built each time: its default time window ends when it is built
                event=EventNameFilter(name=["featurelake.feature-set.stale"]),
                resource=EventResourceFilter(id=[resource]),
            )
            found = client.read_events(filter=stale_filter, limit=5).events
            time.sleep(2)
    assert found, "no featurelake.feature-set.stale event within 180 s"
    published = DeltaStore(Settings()).version(feature_table_path("merchant_txn", 1))
    assert found[0].payload["last_delta_version"] == published
    assert found[0].payload["max_staleness_seconds"] == 86_400


def test_the_run_shows_validation_counts_and_lineage_as_artifacts(chain: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    keys = ["ingest-summary", "validation-customer-txn", "model-lineage"]
    with get_client(sync_client=True) as client:
        found = {
            a.key: str(a.data)
            for a in client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
        }
    assert set(found) == set(keys)
    assert "validation passed" in found["validation-customer-txn"]
    assert "rows_quarantined" in found["ingest-summary"]
    assert "customer_txn:v1" in found["model-lineage"]
    assert "transactions/day=" in found["model-lineage"]  # down to the raw objects


def test_the_deployed_retrain_ran_on_the_worker_became_champion_and_traces_back_to_raw(chain: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    from featurelake.core import events
    from featurelake.lineage.models import model_lineage
    from featurelake.local.synthetic import raw_objects

    settings = Settings()
    with get_client(sync_client=True) as client:
        retrain_run = client.read_flow_run(chain["retrain_run_id"])
        deployment = client.read_deployment(retrain_run.deployment_id)
    assert deployment.work_pool_name == "featurelake-local"  # registered by prefect deploy, not served
    assert retrain_run.work_pool_name == "featurelake-local"

    registry = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    champion = registry.get_model_version_by_alias(FRAUD_MODEL.name, "champion")
    assert champion.tags["featurelake.flow_run_id"] == str(retrain_run.id)
    assert champion.tags["featurelake.train.promotion"] == "promoted"
    resource = f"featurelake.model.{FRAUD_MODEL.name}"
    promoted = wait_for_events(by_id(events.event_id(events.MODEL_PROMOTED, resource, champion.run_id)))
    assert [e.payload["model_version"] for e in promoted] == [str(champion.version)]

    lineage = model_lineage(settings, FRAUD_MODEL.name, str(champion.version))
    keys = {key for key, _ in lineage.raw_objects()}
    for key in (k for k in raw_objects(DATA) if k.startswith(("transactions/", "fraud_labels/"))):
        # the first day was also sent again under another name: whichever copy kept its rows
        assert {key, key.replace("part-0", "part-0-resent")} & keys, key
    assert lineage.flow_run_id == str(retrain_run.id)


def test_a_customer_is_erased_by_the_deployment_and_the_proof_scan_finds_no_trace(chain: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    erasure = chain["erasure"]
    assert erasure["hits"] == []
    assert erasure["scanned"]["lake"] > 0
    assert erasure["scanned"]["raw"] > 0
    assert erasure["rows_removed"] > 0
    store = DeltaStore(Settings())
    log = store.read("_erasure/log")
    assert set(erasure["requests"]) <= set(log["request_id"])
    assert erasure["customer"] not in log.write_csv()
    features = store.read(feature_table_path("customer_txn", 1))
    assert erasure["customer"] not in set(features["customer_id"])
    assert features["customer_id"].n_unique() > 100  # everyone else is still there
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[client.read_deployment_by_name("erase/erase-subject").id])
            )
        )
    assert sorted(r.parameters["request_id"] for r in runs) == sorted(erasure["requests"])
    assert all(r.state is not None and r.state.is_completed() for r in runs)


def test_the_new_transaction_is_served_online_and_scored_by_the_champion(chain: dict[str, Any]) -> None:
    production = chain["production"]
    served, scored = production["served"], production["score"]
    assert served["status"] == "ok"
    assert all(value is not None for value in served["features"].values())
    assert served["delta_version"] == chain["erasure"]["versions_before"][feature_table_path("customer_txn", 1)]
    assert scored["txn_id"] == synthetic.NEW_TRANSACTION_ID
    assert 0.0 <= scored["score"] <= 1.0
    assert scored["table"].endswith("predictions/featurelake-fraud")

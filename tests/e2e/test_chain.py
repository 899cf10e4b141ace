"""The whole chain through a real Prefect server, a serving process, real automations.

Only the ingest run is started by the test. The build must be created by the automation on
``featurelake.bronze-table.appended`` and the retrain by the automation on
``featurelake.feature-set.published``, with the Delta version passed as a typed int.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from featurelake.core.naming import feature_table_path
from featurelake.io.delta import DeltaStore
from featurelake.local.demo import RETRAIN, run_chain
from featurelake.local.stack import LocalStack
from featurelake.settings import Settings, get_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The embedded stack on free ports, serving deployments/prefect.yaml."""
    local = LocalStack(tmp_path_factory.mktemp("stack"), project_dir=Path.cwd(), prefect_port=None, mlflow_port=None)
    monkeypatch = pytest.MonkeyPatch()
    try:
        env = local.start(say=print)
        for key, value in env.items():
            if key.startswith(("FEATURELAKE_", "AWS_", "PREFECT_")):
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        local.serve_deployments()
        yield local
    finally:
        local.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


def test_publish_event_starts_a_retrain_that_completes_with_the_published_version(stack: LocalStack) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.env["PREFECT_API_URL"]}):
        summary = run_chain(stack, stage_timeout=300, say=print)
        with get_client(sync_client=True) as client:
            retrain_run = client.read_flow_run(summary["retrain_run_id"])
            deployment = client.read_deployment_by_name(RETRAIN)

    settings = Settings()
    params = retrain_run.parameters
    published = DeltaStore(settings).version(feature_table_path(params["feature_set"], params["feature_set_version"]))
    assert retrain_run.state is not None
    assert retrain_run.state.is_completed()
    assert retrain_run.deployment_id == deployment.id
    assert retrain_run.created_by is not None
    assert retrain_run.created_by.type == "AUTOMATION"
    assert params == {"feature_set": "customer_txn", "feature_set_version": 1, "delta_version": published}
    assert isinstance(params["delta_version"], int)

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name = '{settings.registered_model_name}'")
    mine = [v for v in versions if v.tags.get("featurelake.flow_run_id") == str(retrain_run.id)]
    assert len(mine) == 1
    assert mine[0].tags["featurelake.delta_version"] == str(published)
    assert mine[0].tags["featurelake.feature_set"] == "customer_txn:v1"
    assert mine[0].tags["featurelake.feature_table"] == DeltaStore(settings).uri(feature_table_path("customer_txn", 1))

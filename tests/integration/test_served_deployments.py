"""`featurelake serve`'s path: the same prefect.yaml entries as runner deployments, registered on the server.

``prefect deploy`` reads the file itself (tests/integration/test_deployments.py); serving builds
Prefect objects from it in :mod:`featurelake.deploy.serve`, so the automations' names and
descriptions and the watcher's schedule are checked on the server for this path too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from featurelake.deploy.prefect_file import environment_values, load_deployment_specs
from featurelake.deploy.serve import build_runner_deployments

#: A suffix keeping these deployments apart from the ones `prefect deploy` registers in other tests.
SUFFIX = "-served"


@pytest.fixture(scope="module")
def served() -> Iterator[list[tuple[dict[str, Any], Any]]]:
    """Every entry, with dev's values, applied as a served deployment (no runner: nothing runs), then removed."""
    specs = [{**s, "name": s["name"] + SUFFIX} for s in load_deployment_specs(values=environment_values("dev"))]
    applied = [
        (spec, deployment.apply()) for spec, deployment in zip(specs, build_runner_deployments(specs), strict=True)
    ]
    yield applied
    with get_client(sync_client=True) as client:
        for _, deployment_id in applied:
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            client.delete_deployment(deployment_id)


def test_served_automations_have_the_files_names_and_descriptions(served: list[tuple[dict[str, Any], Any]]) -> None:
    with get_client(sync_client=True) as client:
        for spec, deployment_id in served:
            automations = client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
            named = sorted((a.name, a.description) for a in automations)
            assert named == sorted((t["name"], t["description"]) for t in spec.get("triggers", [])), spec["name"]


def test_the_served_retrain_trigger_keeps_its_for_each_and_the_watcher_its_schedule(
    served: list[tuple[dict[str, Any], Any]],
) -> None:
    checked = set()
    with get_client(sync_client=True) as client:
        for spec, deployment_id in served:
            checked.add(spec["entrypoint"])
            if spec["entrypoint"] == "flows/retrain.py:retrain":
                (automation,) = client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
                assert automation.trigger.for_each == set(spec["triggers"][0]["for_each"])
            if spec["entrypoint"] == "flows/watch.py:watch_raw":
                (schedule,) = client.read_deployment(deployment_id).schedules
                assert schedule.schedule.cron == spec["schedules"][0]["cron"] == "*/10 * * * *"
    assert {"flows/retrain.py:retrain", "flows/watch.py:watch_raw"} <= checked  # neither check was skipped

"""`prefect deploy --all` against the Prefect server, and what its automations do with real events.

Every trigger's parameter templates are rendered by the pinned server (not by us): each trigger
gets an event built from its payload model, and the flow run it creates must carry parameters
of the flow's types. A template naming a missing field would create no run at all, so a missing
run fails here too. The retrain trigger is checked for debouncing: a burst of publishes makes
one run, pinned to the last one, per lake; and for silence: a server left idle for several
debounce windows fails no automation action (the old trigger, recreated beside it, fails every
window). Runs stay scheduled (no worker here); the e2e test runs them.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events import emit_event
from prefect.events.actions import RunDeployment
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL
from prefect.types._datetime import DateTime, now
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import events
from featurelake.deploy.prefect_file import environment_values, load_deployment_specs
from tests.integration.helpers import wait_for_events

SPECS = load_deployment_specs()
DEBOUNCE_SECONDS = 10  # the least Prefect allows for a proactive trigger
#: The label the retrain's debounce windows are kept apart by (one window per value).
(LAKE_LABEL,) = next(s for s in SPECS if s["name"] == "fraud-model")["triggers"][0]["for_each"]
ACTION_FAILED = "prefect.automation.action.failed"
#: One event per trigger: its name, resource and a payload built from the event's model.
SAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    events.RAW_OBJECT_LANDED: events.RawObjectLanded(
        bucket="raw", key="transactions/x.csv", etag="e", size=1, source="transactions"
    ).model_dump(mode="json"),
    events.BRONZE_APPENDED: events.BronzeAppended(
        source="transactions",
        table_uri="s3://lake/bronze/transactions",
        delta_version=41,
        rows_accepted=3,
        rows_quarantined=0,
        source_keys=["transactions/x.csv"],
    ).model_dump(mode="json"),
    events.FEATURE_SET_PUBLISHED: events.FeatureSetPublished(
        feature_set="customer_txn",
        feature_set_version=1,
        table_uri="s3://lake/features/customer_txn/v1",
        delta_version=41,
        bronze_version=2,
        row_count=10,
        suite_hash="h",
    ).model_dump(mode="json"),
    events.MODEL_PROMOTED: events.ModelPromoted(
        model_name="featurelake-fraud",
        model_version="3",
        previous_version="2",
        metric="roc_auc",
        score=0.9,
        previous_score=0.8,
        compared_on="same holdout",
        feature_set="customer_txn",
        feature_set_version=1,
        delta_version=41,
    ).model_dump(mode="json"),
}
#: Every reactive trigger of every deployment: (deployment spec, trigger index).
REACTIVE = [
    (spec, index)
    for spec in SPECS
    for index, trigger in enumerate(spec.get("triggers", []))
    if trigger.get("posture", "Reactive") == "Reactive"
]


def _filled_specs() -> list[dict[str, Any]]:
    """The specs with the values the `deployed` fixture deploys with (dev's, the short debounce)."""
    values = environment_values(
        "dev", overrides={**os.environ, "FEATURELAKE_RETRAIN_DEBOUNCE": f"PT{DEBOUNCE_SECONDS}S"}
    )
    return load_deployment_specs(values=values)


def _published(delta_version: int) -> dict[str, Any]:
    return events.FeatureSetPublished(
        feature_set="customer_txn",
        feature_set_version=1,
        table_uri="s3://lake/features/customer_txn/v1",
        delta_version=delta_version,
        bronze_version=2,
        row_count=10,
        suite_hash="h",
    ).model_dump(mode="json")


def _name(spec: dict[str, Any]) -> str:
    flow: Any = load_flow_from_entrypoint(spec["entrypoint"])
    return f"{flow.name}/{spec['name']}"


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Any]]:
    """Deploy the file once with dev's values (a short retrain debounce), then delete what it made."""
    runner = CliRunner()
    saved = os.environ.get("FEATURELAKE_RETRAIN_DEBOUNCE")
    os.environ["FEATURELAKE_RETRAIN_DEBOUNCE"] = f"PT{DEBOUNCE_SECONDS}S"
    try:
        result = runner.invoke(app, ["deploy", "--env", "dev"])
    finally:
        if saved is None:
            os.environ.pop("FEATURELAKE_RETRAIN_DEBOUNCE")
        else:
            os.environ["FEATURELAKE_RETRAIN_DEBOUNCE"] = saved
    assert result.exit_code == 0, result.output
    with get_client(sync_client=True) as client:
        found = {_name(spec): client.read_deployment_by_name(_name(spec)) for spec in SPECS}
    yield found
    with get_client(sync_client=True) as client:
        for deployment in found.values():
            client.delete_deployment(deployment.id)


def _runs(deployment: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )


def _wait_for_runs(deployment: Any, matches: Any, timeout: float = 60.0) -> list[Any]:
    """Runs of the deployment that ``matches(run)`` accepts, polled until there is one or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in _runs(deployment) if matches(r)]
        if found:
            return found
        time.sleep(0.5)
    return []


def _assert_typed(entrypoint: str, parameters: dict[str, Any]) -> None:
    """Each parameter has the type the flow's signature declares (ints stay ints, not "41")."""
    flow: Any = load_flow_from_entrypoint(entrypoint)
    signature = inspect.signature(flow.fn)
    for name, value in parameters.items():
        declared = signature.parameters[name].annotation
        expected = {"int": int, "str": str, "float": (int, float), "bool": bool}.get(str(declared))
        if expected is not None:
            assert isinstance(value, expected), f"{name}={value!r} is not {declared}"


def test_deploy_all_creates_every_deployment_with_its_pool_schedules_and_triggers(deployed: dict[str, Any]) -> None:
    assert len(deployed) == len(SPECS) >= 9
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("featurelake-local").type == "process"
        for spec in SPECS:
            deployment = deployed[_name(spec)]
            assert deployment.work_pool_name == "featurelake-local"
            assert deployment.job_variables["task_role_arn"] == ""  # dev: a process pool needs none
            assert "{{" not in str(deployment.job_variables)
            assert deployment.parameters == spec.get("parameters", {})
            assert len(deployment.schedules) == len(spec.get("schedules", []))
            automations = client.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
            assert len(automations) == len(spec.get("triggers", []))
    retrain = deployed["retrain/fraud-model"]
    assert retrain.global_concurrency_limit is not None
    assert retrain.global_concurrency_limit.limit == 1
    assert str(retrain.concurrency_options.collision_strategy.value) == "ENQUEUE"


@pytest.mark.parametrize(("spec", "index"), REACTIVE, ids=[f"{s['name']}-{i}" for s, i in REACTIVE])
def test_every_reactive_trigger_renders_typed_parameters_on_the_server(
    deployed: dict[str, Any], spec: dict[str, Any], index: int
) -> None:
    deployment = deployed[_name(spec)]
    trigger = spec["triggers"][index]
    (name,) = trigger["expect"]
    before = {r.id for r in _runs(deployment)}
    resource = trigger["match"]["prefect.resource.id"].replace("*", f"raw/{uuid.uuid4().hex}")
    emit_event(event=name, resource={"prefect.resource.id": resource}, payload=SAMPLE_PAYLOADS[name])

    created = _wait_for_runs(deployment, lambda r: r.id not in before)
    assert created, f"{spec['name']}: the event created no run (does a template name a missing field?)"
    # Several deployments react to the same event name, so the previous case's event can start a
    # run here too, after this case looked: every run created must render its parameters typed.
    expected = {**spec.get("parameters", {}), **trigger.get("parameters", {})}
    for run in created:
        assert set(run.parameters) == set(expected)
        _assert_typed(spec["entrypoint"], run.parameters)
        assert run.created_by.type == "AUTOMATION"


def test_a_burst_of_publishes_starts_one_retrain_pinned_to_the_last(deployed: dict[str, Any]) -> None:
    deployment = deployed["retrain/fraud-model"]
    burst = [1001, 1002, 1003, 1004]
    for delta_version in burst:
        emit_event(
            event=events.FEATURE_SET_PUBLISHED,
            resource={"prefect.resource.id": "featurelake.feature-set.customer_txn.v1"},
            payload=_published(delta_version),
        )
        time.sleep(2)  # well inside the quiet period: each publish re-opens it
    assert not [r for r in _runs(deployment) if r.parameters.get("delta_version") in burst]

    assert _wait_for_runs(deployment, lambda r: r.parameters.get("delta_version") in burst, DEBOUNCE_SECONDS + 45)
    time.sleep(DEBOUNCE_SECONDS)  # anything else the burst would start has had time to appear
    runs = [r for r in _runs(deployment) if r.parameters.get("delta_version") in burst]

    assert len(runs) == 1
    assert runs[0].parameters == {
        "model": "featurelake-fraud",  # the deployment's own parameter, beside what the trigger rendered
        "feature_set": "customer_txn",
        "feature_set_version": 1,
        "delta_version": 1004,
    }


def _publish(delta_version: int, lake: str | None = None) -> None:
    labels = {} if lake is None else {LAKE_LABEL: lake}
    emit_event(
        event=events.FEATURE_SET_PUBLISHED,
        resource={"prefect.resource.id": "featurelake.feature-set.customer_txn.v1", **labels},
        payload=_published(delta_version),
    )


def test_each_lake_has_its_own_quiet_period(deployed: dict[str, Any]) -> None:
    deployment = deployed["retrain/fraud-model"]
    burst = {"s3://lake-a": [2001, 2002, 2003], "s3://lake-b": [3001, 3002]}
    for a, b in zip(burst["s3://lake-a"], [*burst["s3://lake-b"], None], strict=True):
        _publish(a, "s3://lake-a")
        if b is not None:
            _publish(b, "s3://lake-b")
        time.sleep(2)  # inside the quiet period: each publish re-opens its lake's window
    published = {v for versions in burst.values() for v in versions}

    assert _wait_for_runs(deployment, lambda r: r.parameters.get("delta_version") in published, DEBOUNCE_SECONDS + 45)
    time.sleep(DEBOUNCE_SECONDS)  # anything else the bursts would start has had time to appear
    runs = [r for r in _runs(deployment) if r.parameters.get("delta_version") in published]

    assert sorted(r.parameters["delta_version"] for r in runs) == [2003, 3002]


def _failed_actions(since: DateTime, automation_ids: list[uuid.UUID]) -> EventFilter:
    return EventFilter(
        occurred=EventOccurredFilter(since=since, until=since + timedelta(hours=1)),
        event=EventNameFilter(name=[ACTION_FAILED]),
        resource=EventResourceFilter(id=[f"prefect.automation.{a}" for a in automation_ids]),
    )


def _the_old_retrain_trigger(deployment_id: uuid.UUID) -> AutomationCore:
    """The retrain automation as it was before `for_each`: it fails every window with no publish."""
    return AutomationCore(
        name="featurelake test: the retrain trigger without for_each",
        trigger=EventTrigger(
            posture=Posture.Proactive,
            match={"prefect.resource.id": "featurelake.feature-set.customer_txn.v1"},
            after={events.FEATURE_SET_PUBLISHED},
            expect={events.FEATURE_SET_PUBLISHED},
            threshold=1,
            within=timedelta(seconds=DEBOUNCE_SECONDS),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={"delta_version": "{{ event.payload.delta_version }}"},
            )
        ],
    )


def test_an_idle_server_fails_no_automation_action_and_starts_no_retrain(deployed: dict[str, Any]) -> None:
    since, retrain = now("UTC"), deployed["retrain/fraud-model"]
    with get_client(sync_client=True) as client:
        ours = [
            a.id
            for d in deployed.values()
            for a in client.read_resource_related_automations(f"prefect.deployment.{d.id}")
        ]
        old = client.create_automation(_the_old_retrain_trigger(retrain.id))
    try:
        # The old trigger fails once per window: three of its failures are three idle windows, and
        # prove that the query sees an automation's failed actions.
        old_failures = wait_for_events(_failed_actions(since, [old]), count=3, timeout=3 * DEBOUNCE_SECONDS + 60)
        assert len(old_failures) >= 3
        assert "InvalidJinja" in old_failures[0].payload["reason"]

        assert len(ours) == sum(len(s.get("triggers", [])) for s in SPECS)
        assert wait_for_events(_failed_actions(since, ours), timeout=0) == []
        created = [r for r in _runs(retrain) if r.created is not None and r.created >= since]
        assert created == []
    finally:
        with get_client(sync_client=True) as client:
            client.delete_automation(old)


def test_every_automation_has_the_name_and_description_the_file_gives_it(deployed: dict[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        for spec in _filled_specs():
            deployment = deployed[_name(spec)]
            automations = client.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
            named = sorted((a.name, a.description) for a in automations)
            assert named == sorted((t["name"], t["description"]) for t in spec.get("triggers", []))
            assert not [a.name for a in automations if "__automation_" in a.name or "{{" in a.description]


def test_the_safety_net_looks_every_ten_minutes(deployed: dict[str, Any]) -> None:
    (schedule,) = deployed["watch-raw/safety-net"].schedules
    assert schedule.schedule.cron == "*/10 * * * *"  # dev's FEATURELAKE_WATCH_EVERY_MINUTES


def _cli_parameters(spec: dict[str, Any]) -> list[str]:
    """`--param` values for what the flow requires and the deployment does not preset."""
    samples = {
        "feature_set": "customer_txn",
        "version": "1",
        "feature_set_version": "1",
        "delta_version": "7",
        "request_id": "00000000-0000-5000-8000-000000000000",  # erase: any id (the CLI path is tested)
    }
    flow: Any = load_flow_from_entrypoint(spec["entrypoint"])
    required = [
        n
        for n, p in inspect.signature(flow.fn).parameters.items()
        if p.default is inspect.Parameter.empty and n not in spec.get("parameters", {})
    ]
    return [arg for n in required for arg in ("--param", f"{n}={samples[n]}")]


def test_prefect_deployment_run_works_from_the_cli_for_each_deployment(deployed: dict[str, Any]) -> None:
    prefect = str(Path(sys.executable).parent / "prefect")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    commands = {_name(spec): [prefect, "deployment", "run", _name(spec), *_cli_parameters(spec)] for spec in SPECS}
    started = {  # one CLI process per deployment, all at once: each spends seconds importing prefect
        name: subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, command in commands.items()
    }
    for spec in SPECS:
        name = _name(spec)
        output, _ = started[name].communicate(timeout=180)
        assert started[name].returncode == 0, f"{' '.join(commands[name])}\n{output}"
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", output)
        assert run_id, output
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(uuid.UUID(run_id.group(1)))
        assert run.deployment_id == deployed[name].id
        _assert_typed(spec["entrypoint"], run.parameters)
        if spec["name"] == "fraud-model":
            assert run.parameters["delta_version"] == 7
            assert run.parameters["model"] == "featurelake-fraud"

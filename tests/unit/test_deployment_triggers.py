"""Guard the trigger templates in deployments/prefect.yaml against the event payload models.

A template naming a missing payload field makes Prefect create no run at all (only a server-side
warning), so every ``{{ event.payload.<field> }}`` must name a field the event's model has, and
every required flow parameter must be supplied by the trigger or the deployment.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import yaml

from featurelake.core.events import PAYLOADS
from featurelake.deploy.prefect_file import DEFAULT_PREFECT_FILE, load_deployment_specs

SPECS = load_deployment_specs()
TRIGGERED = [(d, t) for d in SPECS for t in d.get("triggers", [])]
PAYLOAD_FIELD = re.compile(r"\{\{\s*event\.payload\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _flow_parameters(entrypoint: str) -> dict[str, inspect.Parameter]:
    from prefect.flows import load_flow_from_entrypoint

    flow: Any = load_flow_from_entrypoint(entrypoint)
    return dict(inspect.signature(flow.fn).parameters)


def test_prefect_deploy_accepts_the_file_as_written() -> None:
    """`prefect deploy` validates the file before it fills ``{{ $NAME }}`` (a placeholder ``interval`` fails)."""
    from prefect.cli.deploy._models import PrefectYamlModel

    PrefectYamlModel.model_validate(yaml.safe_load(DEFAULT_PREFECT_FILE.read_text()))


def test_every_deployment_has_a_loadable_entrypoint() -> None:
    names = {d["name"] for d in SPECS}
    assert {"ingest", "customer-txn-v1", "fraud-model"} <= names
    for spec in SPECS:
        assert _flow_parameters(spec["entrypoint"]) is not None


def _missing_payload_fields(trigger: dict[str, Any]) -> list[str]:
    """Payload fields the trigger's parameter templates name that its event's model lacks."""
    (event_name,) = trigger["expect"]
    model = PAYLOADS[event_name]
    named = [f for value in trigger.get("parameters", {}).values() for f in PAYLOAD_FIELD.findall(str(value))]
    return [f for f in named if f not in model.model_fields]


@pytest.mark.parametrize(("deployment", "trigger"), TRIGGERED, ids=[d["name"] for d, _ in TRIGGERED])
def test_trigger_templates_name_existing_payload_fields(deployment: dict[str, Any], trigger: dict[str, Any]) -> None:
    assert _missing_payload_fields(trigger) == [], deployment["name"]


def test_the_guard_catches_a_template_naming_a_missing_field() -> None:
    retrain = next(t for d, t in TRIGGERED if d["name"] == "fraud-model")
    broken = {**retrain, "parameters": {**retrain["parameters"], "delta_version": "{{ event.payload.version }}"}}
    assert _missing_payload_fields(broken) == ["version"]


@pytest.mark.parametrize(("deployment", "trigger"), TRIGGERED, ids=[d["name"] for d, _ in TRIGGERED])
def test_triggered_runs_get_every_required_parameter(deployment: dict[str, Any], trigger: dict[str, Any]) -> None:
    parameters = _flow_parameters(deployment["entrypoint"])
    required = {n for n, p in parameters.items() if p.default is inspect.Parameter.empty}
    supplied = set(trigger.get("parameters", {})) | set(deployment.get("parameters", {}))
    assert required <= supplied
    assert supplied <= set(parameters), f"unknown parameter(s) {supplied - set(parameters)}"


def test_every_feature_set_with_a_staleness_limit_is_watched_by_a_proactive_trigger() -> None:
    from featurelake.core.catalog import discover

    watched = {
        (d["parameters"]["feature_set"], d["parameters"]["version"]): t
        for d in SPECS
        if d["entrypoint"] == "flows/freshness.py:announce_stale"
        for t in d.get("triggers", [])
    }
    limited = [s for s in discover("features").feature_sets.values() if s.max_staleness is not None]
    assert limited
    for spec in limited:
        trigger = watched[(spec.name, spec.version)]
        assert trigger["posture"] == "Proactive"
        assert trigger["expect"] == ["featurelake.feature-set.published"]
        assert trigger["match"]["prefect.resource.id"] == f"featurelake.feature-set.{spec.name}.v{spec.version}"
        assert trigger["within"] == spec.max_staleness.total_seconds()


def test_every_retrain_deployment_names_a_model_spec_and_listens_to_every_feature_set_it_reads() -> None:
    from featurelake.core.catalog import discover
    from featurelake.core.naming import feature_set_resource_id

    found = discover("features")
    retrains = [d for d in SPECS if d["entrypoint"] == "flows/retrain.py:retrain"]
    assert [d["parameters"]["model"] for d in retrains] == ["featurelake-fraud"]
    for deployment in retrains:
        spec = found.get_model(deployment["parameters"]["model"])
        (trigger,) = deployment["triggers"]
        assert trigger["expect"] == trigger["after"] == ["featurelake.feature-set.published"]
        matched = trigger["match"]["prefect.resource.id"]
        listened = [matched] if isinstance(matched, str) else matched
        read = [feature_set_resource_id(found.feature_sets[ref]) for ref in spec.feature_sets]
        assert sorted(listened) == sorted(read), f"{deployment['name']}: the trigger and model spec {spec.name} differ"
        assert all(ref in trigger["name"] for ref in spec.feature_sets), trigger["name"]


def _fires_without_an_event(trigger: dict[str, Any]) -> bool:
    """Whether a proactive trigger whose parameters render the event can fire with none.

    ``proactive_evaluation`` (prefect/server/events/triggers.py) keeps a window open for every
    proactive trigger without ``for_each``, even when ``after`` is set, and fires it when it
    expires with no event: ``{{ event.payload.* }}`` cannot render (InvalidJinja) and the action
    fails. With ``for_each`` and ``after``, only an ``after`` event opens a window.
    """
    renders_event = re.search(r"\{\{\s*event\b", str(trigger.get("parameters", {}))) is not None
    proactive = trigger.get("posture") == "Proactive"
    return proactive and renders_event and not (trigger.get("after") and trigger.get("for_each"))


@pytest.mark.parametrize(("deployment", "trigger"), TRIGGERED, ids=[d["name"] for d, _ in TRIGGERED])
def test_no_trigger_fires_without_the_event_its_parameters_render(
    deployment: dict[str, Any], trigger: dict[str, Any]
) -> None:
    assert not _fires_without_an_event(trigger), deployment["name"]


def test_the_guard_catches_the_retrain_trigger_without_for_each() -> None:
    retrain = next(t for d, t in TRIGGERED if d["name"] == "fraud-model")
    assert _fires_without_an_event({k: v for k, v in retrain.items() if k != "for_each"})


@pytest.mark.parametrize(("deployment", "trigger"), TRIGGERED, ids=[d["name"] for d, _ in TRIGGERED])
def test_every_trigger_has_a_plain_name_and_a_description_naming_its_deployment(
    deployment: dict[str, Any], trigger: dict[str, Any]
) -> None:
    from prefect.flows import load_flow_from_entrypoint

    flow: Any = load_flow_from_entrypoint(deployment["entrypoint"])
    assert trigger.get("name"), (
        f"{deployment['name']}: the Automations page would show {deployment['name']}__automation_1"
    )
    assert len(trigger["name"]) <= 80
    assert f"{flow.name}/{deployment['name']}" in trigger.get("description", "")


def test_trigger_names_are_unique() -> None:
    names = [t["name"] for _, t in TRIGGERED]
    assert len(names) == len(set(names))

"""The materialize deployment in deployments/prefect.yaml follows every publish with typed parameters.

The generic guards (payload fields exist, required parameters supplied, names and descriptions)
run over it in tests/unit/test_deployment_triggers.py; these pin what is specific to it.
"""

from __future__ import annotations

import inspect
from typing import Any

from featurelake.core.events import FEATURE_SET_PUBLISHED, FeatureSetPublished
from featurelake.deploy.prefect_file import load_deployment_specs

ENTRYPOINT = "flows/materialize.py:materialize"


def _deployment() -> dict[str, Any]:
    (deployment,) = [d for d in load_deployment_specs() if d["entrypoint"] == ENTRYPOINT]
    return deployment


def test_every_publish_of_any_feature_set_starts_one_materialize_run_without_debounce() -> None:
    (trigger,) = _deployment()["triggers"]
    assert trigger["expect"] == [FEATURE_SET_PUBLISHED]
    assert trigger["match"] == {"prefect.resource.id": "featurelake.feature-set.*"}
    # A version's incremental write covers only what changed at it: no window may swallow a publish.
    assert trigger.get("posture", "Reactive") == "Reactive"
    assert trigger.get("threshold", 1) == 1
    assert "within" not in trigger
    assert "for_each" not in trigger


def test_the_trigger_passes_the_published_version_as_typed_parameters() -> None:
    from prefect.flows import load_flow_from_entrypoint

    (trigger,) = _deployment()["triggers"]
    parameters = trigger["parameters"]
    assert parameters == {
        "feature_set": "{{ event.payload.feature_set }}",
        "feature_set_version": "{{ event.payload.feature_set_version }}",
        "delta_version": "{{ event.payload.delta_version }}",
    }
    flow: Any = load_flow_from_entrypoint(ENTRYPOINT)
    signature = inspect.signature(flow.fn)
    for name in parameters:
        payload_type = FeatureSetPublished.model_fields[name].annotation
        assert payload_type is not None
        assert payload_type.__name__ in str(signature.parameters[name].annotation), name
    assert signature.parameters["mode"].default == "incremental"

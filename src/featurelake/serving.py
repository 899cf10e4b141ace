"""Serve the deployments declared in ``deployments/prefect.yaml`` from one process.

The YAML stays the single source of truth: the same entrypoints, parameters and triggers
are served locally (demo, tests) and deployed to work pools with ``prefect deploy``. Flows
are loaded by entrypoint, so the library never imports the ``flows`` package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_PREFECT_FILE = Path("deployments/prefect.yaml")


def load_deployment_specs(prefect_file: Path = DEFAULT_PREFECT_FILE) -> list[dict[str, Any]]:
    """The ``deployments`` entries of a prefect.yaml file."""
    document = yaml.safe_load(prefect_file.read_text())
    specs: list[dict[str, Any]] = document.get("deployments", [])
    return specs


def build_runner_deployments(specs: list[dict[str, Any]]) -> list[Any]:
    """Turn prefect.yaml entries into deployments a local runner can serve."""
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.flows import load_flow_from_entrypoint

    deployments = []
    for spec in specs:
        flow: Any = load_flow_from_entrypoint(spec["entrypoint"])
        triggers: list[Any] = [
            DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"}) for t in spec.get("triggers", [])
        ]
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                schedules=[_schedule(s) for s in spec.get("schedules", [])],
                parameters=spec.get("parameters", {}),
                triggers=triggers,
                tags=spec.get("tags", []),
                description=spec.get("description"),
            )
        )
    return deployments


def _schedule(entry: dict[str, Any]) -> Any:
    """A prefect.yaml schedule entry (``interval`` in seconds, or ``cron``) as a Prefect schedule."""
    from prefect.schedules import Cron, Interval

    if "interval" in entry:
        return Interval(float(entry["interval"]), active=entry.get("active", True))
    if "cron" in entry:
        return Cron(entry["cron"], timezone=entry.get("timezone"), active=entry.get("active", True))
    raise ValueError(f"unsupported schedule {entry}; use interval (seconds) or cron")


def serve_all(prefect_file: Path = DEFAULT_PREFECT_FILE) -> None:
    """Serve every deployment of the file until interrupted."""
    from prefect import serve

    serve(*build_runner_deployments(load_deployment_specs(prefect_file)))


if __name__ == "__main__":
    serve_all()

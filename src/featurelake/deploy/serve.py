"""Serve the deployments of ``deployments/prefect.yaml`` from this process (demo, tests, a dev box).

Flows are loaded by entrypoint, so the library never imports the ``flows`` package; the same
triggers and schedules as ``prefect deploy`` would register are served by a local runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featurelake.deploy.prefect_file import (
    DEFAULT_PREFECT_FILE,
    environment_values,
    load_deployment_specs,
    missing_values,
    parse_duration,
)


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
                concurrency_limit=_concurrency_limit(spec.get("concurrency_limit")),
            )
        )
    return deployments


def _concurrency_limit(entry: int | dict[str, Any] | None) -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    if entry is None or isinstance(entry, int):
        return entry
    return ConcurrencyLimitConfig(**entry)


def _schedule(entry: dict[str, Any]) -> Any:
    """A prefect.yaml schedule entry (``interval``: seconds or an ISO 8601 duration, or ``cron``) as a schedule."""
    from prefect.schedules import Cron, Interval

    if "interval" in entry:
        return Interval(parse_duration(entry["interval"]), active=entry.get("active", True))
    if "cron" in entry:
        return Cron(entry["cron"], timezone=entry.get("timezone"), active=entry.get("active", True))
    raise ValueError(f"unsupported schedule {entry}; use interval (seconds) or cron")


def serve_all(prefect_file: Path = DEFAULT_PREFECT_FILE, environment: str = "dev") -> None:
    """Serve every deployment of the file, with ``environment``'s values, until interrupted.

    Raises:
        ValueError: naming placeholders that have no value.
    """
    from prefect import serve

    values = environment_values(environment)
    missing = missing_values(values, prefect_file, required=False)
    if missing:
        raise ValueError(f"{prefect_file} uses {missing}, which {environment}.env does not set")
    serve(*build_runner_deployments(load_deployment_specs(prefect_file, values)))

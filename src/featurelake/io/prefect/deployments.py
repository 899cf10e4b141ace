"""Start a served deployment's run from code (the CLI's ``--submit``), without waiting for it."""

from __future__ import annotations

from typing import Any


def start_deployment(name: str, parameters: dict[str, Any]) -> str:
    """Create a run of deployment ``name`` (``flow/deployment``) with ``parameters``; returns the run's id."""
    from prefect.deployments import run_deployment

    run = run_deployment(name=name, parameters=parameters, timeout=0)
    return str(run.id)  # type: ignore[union-attr]

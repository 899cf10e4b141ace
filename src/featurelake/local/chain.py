"""Watch the pipeline run through Prefect: follow the runs that schedules and automations start.

Used by ``featurelake demo`` and the end-to-end test, so both observe the chain the same way:
nothing is started directly; ingest, build and retrain must all be created by automations.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

TERMINAL_OK = {"COMPLETED"}
TERMINAL_BAD = {"FAILED", "CRASHED", "CANCELLED"}


class StageError(RuntimeError):
    """A stage of the chain failed or timed out; the message names the stage."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage '{stage}' {message}")
        self.stage = stage


def wait_for_deployments(names: list[str], timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
    """Wait until the serving process registered every deployment (``flow/deployment``)."""
    from prefect.client.orchestration import get_client

    deadline, found = time.monotonic() + timeout, {}
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            for name in names:
                if name not in found:
                    try:
                        found[name] = client.read_deployment_by_name(name)
                        say(f"deployment ready: {name}")
                    except Exception:  # not registered yet: the runner is still starting
                        pass
            if len(found) == len(names):
                return found
            time.sleep(1)
    missing = sorted(set(names) - set(found))
    raise StageError("serve", f"timed out after {timeout:.0f} s waiting for deployments {missing}")


def wait_for_run(flow_run_id: Any, stage: str, timeout: float, say: Callable[[str], None]) -> Any:
    """Poll a flow run until it ends; raise StageError unless it completed."""
    from prefect.client.orchestration import get_client

    deadline, last = time.monotonic() + timeout, ""
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            state = run.state.type.value if run.state else "PENDING"
            if state != last:
                say(f"{stage}: {run.name} is {state.lower()}")
                last = state
            if state in TERMINAL_OK:
                return run
            if state in TERMINAL_BAD:
                message = run.state.message if run.state else ""
                raise StageError(stage, f"ended {state}: {message}")
            time.sleep(1)
    raise StageError(stage, f"timed out after {timeout:.0f} s (last state {last or 'unknown'})")


def wait_for_triggered_run(
    deployment: str, since: dt.datetime, stage: str, timeout: float, say: Callable[[str], None]
) -> Any:
    """Wait for an automation to create a run of ``deployment`` after ``since``, then for it to end."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(deployment).id
        say(f"{stage}: waiting for the automation to start {deployment}")
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            fresh = sorted((r for r in runs if r.created and r.created >= since), key=lambda r: r.created or since)
            if fresh:
                remaining = max(deadline - time.monotonic(), 1.0)
                return wait_for_run(fresh[0].id, stage, remaining, say)
            time.sleep(1)
    raise StageError(stage, f"no run of {deployment} was created within {timeout:.0f} s; check the automation")

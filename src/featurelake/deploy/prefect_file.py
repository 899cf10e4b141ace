"""The deployments declared in ``deployments/prefect.yaml``, with one environment's values filled in.

The YAML stays the single source of truth: the same entrypoints, parameters and triggers are
served locally (demo, tests) and deployed to work pools with ``prefect deploy``.

Per-environment values are ``{{ $NAME }}`` placeholders filled from the environment, with the
defaults in ``deployments/environments/<env>.env``. A placeholder left unset would reach Prefect
as literal text (a work pool named ``{{ $FEATURELAKE_WORK_POOL }}``), so every path refuses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter

DEFAULT_PREFECT_FILE = Path("deployments/prefect.yaml")


ENVIRONMENTS_DIR = Path("deployments/environments")


#: Placeholders resolved where the flow runs (pull steps), not when deploying.
RUNTIME_PLACEHOLDERS = frozenset({"FEATURELAKE_PROJECT_DIR"})


_PLACEHOLDER = re.compile(r"\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


#: CloudFormation stack outputs (infra/cloudformation) → the placeholders they fill.
STACK_OUTPUTS = {
    "IngestTaskRoleArn": "FEATURELAKE_INGEST_TASK_ROLE_ARN",
    "BuildTaskRoleArn": "FEATURELAKE_BUILD_TASK_ROLE_ARN",
    "RetrainTaskRoleArn": "FEATURELAKE_RETRAIN_TASK_ROLE_ARN",
    "WatchTaskRoleArn": "FEATURELAKE_WATCH_TASK_ROLE_ARN",
    "MaintenanceTaskRoleArn": "FEATURELAKE_MAINTENANCE_TASK_ROLE_ARN",
    "EraseTaskRoleArn": "FEATURELAKE_ERASE_TASK_ROLE_ARN",
}


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an environment file; comments and blank lines are skipped.

    Raises:
        ValueError: naming the file and line when a line is not ``NAME=value``.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, separator, value = text.partition("=")
        if not separator or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{path}:{number}: expected NAME=value, got {text!r}")
        values[name] = value
    return values


def environment_values(
    environment: str, extra: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment's values: its file's defaults, then ``extra``, then the process environment.

    Only names the file declares are taken from the environment, and an empty variable does not
    blank the file's value.

    Raises:
        FileNotFoundError: listing the environments that exist.
    """
    path = ENVIRONMENTS_DIR / f"{environment}.env"
    if not path.exists():
        known = sorted(p.stem for p in ENVIRONMENTS_DIR.glob("*.env"))
        raise FileNotFoundError(f"no environment {environment!r}: {path} does not exist (known: {known})")
    merged = read_env_file(path)
    merged.update(extra or {})
    environ = os.environ if overrides is None else overrides
    merged.update({k: v for k, v in environ.items() if k in merged and v})
    return merged


def placeholders(prefect_file: Path = DEFAULT_PREFECT_FILE) -> set[str]:
    """Every deploy-time ``{{ $NAME }}`` the file's values use (comments do not count)."""
    found: set[str] = set()
    _collect(yaml.safe_load(prefect_file.read_text()), found)
    return found - RUNTIME_PLACEHOLDERS


def _collect(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _collect(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect(value, found)
    elif isinstance(node, str):
        found.update(_PLACEHOLDER.findall(node))


def missing_values(values: Mapping[str, str], prefect_file: Path, required: bool) -> list[str]:
    """Placeholders with no value (or, when ``required``, an empty one) in ``values``."""
    return sorted(n for n in placeholders(prefect_file) if n not in values or (required and not values[n]))


def load_deployment_specs(
    prefect_file: Path = DEFAULT_PREFECT_FILE, values: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The ``deployments`` entries of a prefect.yaml, with ``{{ $NAME }}`` filled from ``values``.

    Without ``values`` the placeholders stay as written (for tests that read the file's shape).
    """
    document = yaml.safe_load(prefect_file.read_text())
    specs: list[dict[str, Any]] = document.get("deployments", [])
    if values is None:
        return specs
    filled: list[dict[str, Any]] = _fill(specs, values)
    return filled


def _fill(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), node)
    return node


def parse_duration(value: str | float | timedelta) -> timedelta:
    """A duration as ``prefect deploy`` reads one: seconds as a number, or an ISO 8601 string (``PT10M``).

    A number from a ``{{ $NAME }}`` placeholder arrives as text, which Prefect refuses ("600" is
    not a duration), so the environment files write durations as ISO 8601.

    Raises:
        ValueError: naming the value when it is neither.
    """
    try:
        return _DURATION.validate_python(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a duration: write seconds as a number or ISO 8601 (e.g. PT10M)") from error


_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)

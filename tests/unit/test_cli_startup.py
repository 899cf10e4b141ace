"""Start-up cost: ``featurelake --help`` and commands that need neither GX nor MLflow do not import them.

great_expectations takes 5–9 s to import and mlflow about 3 s; prefect, deltalake, boto3 and
polars add more. Each case runs the CLI in a fresh interpreter (a module imported by an earlier
test would hide the cost) and asserts on what got imported, not on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY_FOR_HELP = ("great_expectations", "mlflow", "prefect", "deltalake", "boto3", "polars", "pyarrow", "pandas")
NEVER_WITHOUT_NEED = ("great_expectations", "mlflow", "prefect")
PROBE = """
import json, sys
from featurelake.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"exit": code, "modules": sorted(m for m in sys.modules if "." not in m)}))
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """Run the CLI with ``args`` in a fresh interpreter; its exit code and the top-level modules it imported."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return int(report["exit"] or 0), set(report["modules"])


@pytest.mark.parametrize("args", [("--help",), ("check", "--help"), ("list", "--help"), ("backfill", "--help")])
def test_help_imports_none_of_the_heavy_libraries(args: tuple[str, ...]) -> None:
    code, modules = run_cli(*args)
    assert code == 0
    assert modules.isdisjoint(HEAVY_FOR_HELP), sorted(modules & set(HEAVY_FOR_HELP))


def test_a_command_that_needs_neither_gx_nor_mlflow_imports_neither(tmp_path: Path) -> None:
    env = {"FEATURELAKE_LAKE_URI": str(tmp_path / "lake"), "FEATURELAKE_STATE_DIR": str(tmp_path / "state")}
    code, modules = run_cli("list", env=env)
    assert code == 0
    assert "deltalake" in modules  # it did read the (empty) registry
    assert modules.isdisjoint(NEVER_WITHOUT_NEED), sorted(modules & set(NEVER_WITHOUT_NEED))


def test_the_installed_command_answers_help() -> None:
    command = Path(sys.executable).parent / "featurelake"
    completed = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True, timeout=120)
    for name in ("plan", "backfill", "check", "training-set", "lineage"):
        assert name in completed.stdout

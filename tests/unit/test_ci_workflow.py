"""The GitHub Actions template (infra/ci/github/featurelake.yml) is valid, safe and runs commands that exist.

Checked here, offline: GitHub's workflow schema (check-jsonschema's vendored copy), the job graph
and its guards (deploys only from main, production after staging and behind an environment),
least-privilege permissions, every ``featurelake``/``uv``/``prefect`` command and flag it runs, and
the verify job's cloud-free command (``featurelake check``) against this repository.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from featurelake.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PATH = ROOT / "infra" / "ci" / "github" / "featurelake.yml"
WORKFLOW: dict[str, Any] = yaml.load(WORKFLOW_PATH.read_text(), Loader=yaml.BaseLoader)  # "on" stays a string
JOBS: dict[str, dict[str, Any]] = WORKFLOW["jobs"]
ON_MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
VENV_BIN = Path(sys.executable).parent
#: What each job may be granted; nothing else, and nothing at the top level.
ALLOWED_PERMISSIONS = {
    "verify": {"contents": "read", "id-token": "write"},
    "security": {"contents": "read", "pull-requests": "read"},
    "deploy-staging": {"contents": "read", "id-token": "write"},
    "deploy-production": {"contents": "read", "id-token": "write"},
}
#: ``uv run`` options that take a value (the executable follows them).
UV_RUN_VALUE_OPTIONS = {"--project", "--with", "--group", "--python", "--from", "--directory"}


def _steps(job: str) -> list[dict[str, Any]]:
    return list(JOBS[job]["steps"])


def _commands(job: str | None = None) -> list[tuple[str, list[str]]]:
    """Every shell command line the workflow runs, as (job, tokens); continuations joined."""
    found = []
    for name in [job] if job else list(JOBS):
        for step in _steps(name):
            script = step.get("run", "").replace("\\\n", " ")
            found += [(name, shlex.split(line)) for line in script.splitlines() if line.strip()]
    return found


def _uv_run(tokens: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """Split ``uv run [options] <exe> <args>`` into its uv options and the command it runs."""
    options: dict[str, str | None] = {}
    rest = tokens[2:]
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        options[flag] = rest.pop(0) if flag in UV_RUN_VALUE_OPTIONS else None
    return options, rest


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed to check the workflow's uv commands"
    return found


def _step_named(job: str, text: str) -> dict[str, Any]:
    (step,) = [s for s in _steps(job) if text in s.get("run", "")]
    return step


# --- (a) GitHub's schema ------------------------------------------------------------------------


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_workflow_is_valid_against_githubs_workflow_schema(tmp_path: Path) -> None:
    result = _schema_check(WORKFLOW_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"  # the validator must be able to say no
    broken.write_text(WORKFLOW_PATH.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    refused = _schema_check(broken)
    assert refused.returncode == 1
    assert "'runs-on' is a required property" in refused.stdout


# --- (b) structure ------------------------------------------------------------------------------


def test_it_runs_on_pull_requests_and_pushes_to_main() -> None:
    assert WORKFLOW["on"]["push"] == {"branches": ["main"]}
    assert "pull_request" in WORKFLOW["on"]
    assert set(WORKFLOW["on"]) == {"push", "pull_request"}


def test_deploys_wait_for_the_checks_and_production_for_staging() -> None:
    assert list(JOBS) == ["verify", "security", "deploy-staging", "deploy-production"]
    assert "needs" not in JOBS["verify"]
    assert "needs" not in JOBS["security"]
    assert JOBS["deploy-staging"]["needs"] == ["verify", "security"]
    assert JOBS["deploy-production"]["needs"] == ["deploy-staging"]


@pytest.mark.parametrize(("job", "environment"), [("deploy-staging", "staging"), ("deploy-production", "production")])
def test_deploy_jobs_run_only_for_main_behind_an_environment_one_at_a_time(job: str, environment: str) -> None:
    spec = JOBS[job]
    assert spec["if"] == ON_MAIN_PUSH
    assert spec["environment"] == environment  # production's required reviewers are the approval
    assert spec["concurrency"] == {"group": f"featurelake-deploy-{environment}", "cancel-in-progress": "false"}
    for other in ("verify", "security"):
        assert "environment" not in JOBS[other]
        assert "if" not in JOBS[other]


def test_permissions_are_least_privilege() -> None:
    assert WORKFLOW["permissions"] == {}
    for job, spec in JOBS.items():
        assert spec["permissions"] == ALLOWED_PERMISSIONS[job], job
    writers = {job for job, spec in JOBS.items() if "write" in spec["permissions"].values()}
    assert writers == {"verify", "deploy-staging", "deploy-production"}  # id-token only (OIDC), per the table


def test_secrets_reach_only_the_steps_that_need_them() -> None:
    for job, spec in JOBS.items():
        job_level = yaml.safe_dump({k: v for k, v in spec.items() if k != "steps"})
        assert "secrets." not in job_level, job
        for step in spec["steps"]:
            used = set(re.findall(r"secrets\.([A-Z_]+)", yaml.safe_dump(step)))
            if "featurelake deploy" in step.get("run", ""):
                assert used == {"PREFECT_API_URL", "PREFECT_API_KEY"}
            elif step.get("uses", "").startswith("gitleaks/"):
                assert used == {"GITHUB_TOKEN", "GITLEAKS_LICENSE"}
            else:
                assert not used, (job, step)


def test_plan_gates_verify_with_read_only_credentials_obtained_after_tests_and_checks() -> None:
    steps = _steps("verify")
    plan = _step_named("verify", "featurelake plan")
    assert plan["run"].strip() == "uv run --frozen featurelake plan"  # no `|| true`, no --json swallowing the code
    assert "continue-on-error" not in plan
    assert "if" not in plan
    credentials = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("aws-actions/configure-aws"))
    assert steps[credentials]["with"]["role-to-assume"] == "${{ vars.FEATURELAKE_PLAN_ROLE_ARN }}"
    position = {text: steps.index(_step_named("verify", text)) for text in ("pytest", "featurelake check", "plan")}
    assert position["pytest"] < credentials
    assert position["featurelake check"] < credentials < position["plan"]
    for job in JOBS:
        assert all("continue-on-error" not in s for s in _steps(job)), job


def test_deploys_build_once_and_promote_the_same_image_with_their_own_role_and_values() -> None:
    staging, production = JOBS["deploy-staging"], JOBS["deploy-production"]
    for job, environment in (("deploy-staging", "staging"), ("deploy-production", "prod")):
        spec = JOBS[job]
        assert spec["env"]["FEATURELAKE_IMAGE"].endswith(":${{ github.sha }}")
        (credentials,) = [s for s in spec["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws")]
        assert credentials["with"]["role-to-assume"] == "${{ vars.FEATURELAKE_DEPLOY_ROLE_ARN }}"
        runs = [s.get("run", "") for s in spec["steps"]]
        assert any("featurelake apply" in r for r in runs)
        (deploy,) = [r for r in runs if "featurelake deploy" in r]
        assert f"--env {environment} " in deploy
        assert (ROOT / "deployments" / "environments" / f"{environment}.env").exists(), environment
    assert any("docker build" in s.get("run", "") for s in staging["steps"])
    assert not any("docker build" in s.get("run", "") for s in production["steps"])
    (uploaded,) = [s for s in staging["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    (downloaded,) = [s for s in production["steps"] if s.get("uses", "").startswith("actions/download-artifact")]
    assert uploaded["with"]["name"] == downloaded["with"]["name"]


def test_every_action_is_pinned_to_a_release_or_a_commit() -> None:
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
    used = [s["uses"] for job in JOBS for s in _steps(job) if "uses" in s]
    assert used
    assert [u for u in used if not pinned.match(u)] == []


# --- (c) every command exists -------------------------------------------------------------------


def _featurelake_commands() -> dict[str, Any]:
    """The commands registered on the ``featurelake`` app (typer's own click group)."""
    commands: dict[str, Any] = dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert "check" in commands
    return commands


def _invocations() -> list[tuple[str, list[str]]]:
    """What each ``uv run`` and bare command line runs, as (job, [exe, *args])."""
    found = []
    for job, tokens in _commands():
        if tokens[:2] == ["uv", "run"]:
            found.append((job, _uv_run(tokens)[1]))
        elif tokens[0] in {"featurelake", "make"}:
            found.append((job, tokens))
    return found


def test_the_workflow_runs_the_commands_it_claims_to() -> None:
    ran = {(job, " ".join(command[:2])) for job, command in _invocations()}
    for expected in [
        ("verify", "featurelake check"),
        ("verify", "featurelake plan"),
        ("verify", "pytest"),
        ("verify", "mypy"),
        ("verify", "ruff check"),
        ("verify", "lint-imports"),
        ("security", "make infra-check"),
        ("deploy-staging", "featurelake apply"),
        ("deploy-staging", "featurelake deploy"),
        ("deploy-production", "featurelake apply"),
        ("deploy-production", "featurelake deploy"),
    ]:
        assert expected in ran, expected


def test_every_featurelake_command_and_option_the_workflow_uses_exists() -> None:
    commands = _featurelake_commands()
    used = [command for _, command in _invocations() if command[0] == "featurelake"]
    assert used
    for _, name, *args in used:
        assert name in commands, f"featurelake has no command {name!r}; it has {sorted(commands)}"
        options = {o for p in commands[name].params for o in p.opts}
        assert [a for a in args if a.startswith("-") and a not in options] == [], (name, args)


def test_every_uv_run_executable_is_installed_by_the_lockfile() -> None:
    for job, tokens in _commands():
        if tokens[:2] != ["uv", "run"]:
            continue
        _, (exe, *_) = _uv_run(tokens)
        assert (VENV_BIN / exe).exists(), f"{job}: `uv run {exe}` but {exe} is not installed by uv.lock"


def test_every_make_target_the_workflow_uses_exists() -> None:
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    used = [command[1:] for _, command in _invocations() if command[0] == "make"]
    assert used
    assert [t for targets_used in used for t in targets_used if t not in targets] == []


def test_every_uv_subcommand_and_flag_the_workflow_uses_parses() -> None:
    uv_lines = [tokens for _, tokens in _commands() if tokens[0] == "uv"]
    assert {t[1] for t in uv_lines} == {"sync", "run", "audit", "tool"}
    for tokens in uv_lines:
        if tokens[1] == "run":
            options, _ = _uv_run(tokens)
            head = ["run", *[x for flag, value in options.items() for x in (flag, value) if x is not None]]
        elif tokens[1] == "tool":
            head = tokens[1:5]  # tool run --from <spec>
        else:
            head = tokens[1:]
        parsed = subprocess.run([_uv(), *head, "--help"], capture_output=True, text=True, timeout=60, check=False)
        assert parsed.returncode == 0, (tokens, parsed.stderr)


# --- (d) what verify runs without a cloud, run here ---------------------------------------------


def test_the_verify_jobs_sample_check_passes_on_this_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    (command,) = [c for job, c in _invocations() if job == "verify" and c[:2] == ["featurelake", "check"]]
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, command[1:])
    assert result.exit_code == 0, result.output
    assert "check passed" in result.output
    assert "ok    customer_txn:v1" in result.output
    assert "(expected bad)" in result.output


def test_the_how_to_documents_every_variable_secret_and_required_check() -> None:
    guide = (ROOT / "docs" / "how-to" / "ci-cd.md").read_text()
    text = WORKFLOW_PATH.read_text()
    names = set(re.findall(r"\$\{\{\s*(?:vars|secrets)\.([A-Z_]+)\s*\}\}", text)) - {"GITHUB_TOKEN"}
    assert names
    assert sorted(n for n in names if f"`{n}`" not in guide) == []
    assert [job for job, spec in JOBS.items() if spec["name"] not in guide and job in {"verify", "security"}] == []
    assert "infra/ci/github/featurelake.yml" in guide

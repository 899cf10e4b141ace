"""Per-environment values for deployments/prefect.yaml: complete for every environment, refused when not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from featurelake.deploy.prefect_file import (
    ENVIRONMENTS_DIR,
    STACK_OUTPUTS,
    environment_values,
    load_deployment_specs,
    missing_values,
    parse_duration,
    placeholders,
    read_env_file,
)
from featurelake.deploy.register import deploy_environment

ENVIRONMENTS = sorted(p.stem for p in ENVIRONMENTS_DIR.glob("*.env"))


def test_there_is_a_dev_a_staging_and_a_prod_environment() -> None:
    assert ENVIRONMENTS == ["dev", "prod", "staging"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_names_every_placeholder_the_file_uses(environment: str) -> None:
    values = read_env_file(ENVIRONMENTS_DIR / f"{environment}.env")
    assert missing_values(values, Path("deployments/prefect.yaml"), required=False) == []
    assert set(values) == placeholders()  # and nothing the file does not use


def test_the_placeholders_are_the_pool_the_image_the_roles_and_the_windows() -> None:
    assert placeholders() == {
        "FEATURELAKE_WORK_POOL",
        "FEATURELAKE_IMAGE",
        "FEATURELAKE_RETRAIN_DEBOUNCE",
        "FEATURELAKE_INGEST_BATCH_WINDOW",
        "FEATURELAKE_WATCH_EVERY_MINUTES",
        *STACK_OUTPUTS.values(),
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environments_windows_are_iso_8601_and_within_their_bounds(environment: str) -> None:
    """`prefect deploy` refuses a bare number from a placeholder ("20" is not a duration)."""
    values = read_env_file(ENVIRONMENTS_DIR / f"{environment}.env")
    debounce = parse_duration(values["FEATURELAKE_RETRAIN_DEBOUNCE"])
    batch = parse_duration(values["FEATURELAKE_INGEST_BATCH_WINDOW"])
    assert values["FEATURELAKE_RETRAIN_DEBOUNCE"].startswith("P")
    assert values["FEATURELAKE_INGEST_BATCH_WINDOW"].startswith("P")
    assert debounce >= timedelta(seconds=10)  # Prefect's least proactive window
    assert timedelta(0) <= batch <= timedelta(minutes=5)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environments_safety_net_looks_no_more_than_every_ten_minutes(environment: str) -> None:
    minutes = int(read_env_file(ENVIRONMENTS_DIR / f"{environment}.env")["FEATURELAKE_WATCH_EVERY_MINUTES"])
    assert minutes >= 10
    assert 60 % minutes == 0  # the step of a cron (*/N): any other N would not be evenly spaced


def test_a_duration_that_is_not_one_names_the_value_and_the_forms() -> None:
    assert parse_duration(15) == timedelta(seconds=15)
    with pytest.raises(ValueError, match=r"'600' is not a duration: write seconds as a number or ISO 8601"):
        parse_duration("600")


def test_filled_specs_keep_event_templates_and_runtime_placeholders() -> None:
    specs = load_deployment_specs(values=environment_values("dev", overrides={}))
    retrain = next(s for s in specs if s["name"] == "fraud-model")
    assert retrain["work_pool"]["name"] == "featurelake-local"
    (trigger,) = retrain["triggers"]
    assert trigger["within"] == "PT20S"
    assert trigger["parameters"]["delta_version"] == "{{ event.payload.delta_version }}"
    assert "a quiet period (PT20S)" in trigger["description"]
    watcher = next(s for s in specs if s["name"] == "safety-net")
    assert watcher["schedules"] == [{"cron": "*/10 * * * *", "timezone": "UTC"}]


def test_the_process_environment_overrides_the_file() -> None:
    values = environment_values("dev", overrides={"FEATURELAKE_RETRAIN_DEBOUNCE": "PT1M", "UNRELATED": "x"})
    assert values["FEATURELAKE_RETRAIN_DEBOUNCE"] == "PT1M"
    assert "UNRELATED" not in values


def test_an_unknown_environment_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"no environment 'qa'.*known: \['dev', 'prod', 'staging'\]"):
        environment_values("qa")


@pytest.fixture(autouse=True)
def no_placeholder_values_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's exported FEATURELAKE_* values must not change what these tests see."""
    for name in placeholders():
        monkeypatch.delenv(name, raising=False)


def test_an_empty_variable_does_not_blank_the_files_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_RETRAIN_DEBOUNCE", "")
    assert deploy_environment("dev", {})["FEATURELAKE_RETRAIN_DEBOUNCE"] == "PT20S"


def test_the_environment_overrides_the_stack_which_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    role = "FEATURELAKE_INGEST_TASK_ROLE_ARN"
    assert deploy_environment("dev", {role: "from-stack"})[role] == "from-stack"
    monkeypatch.setenv(role, "from-env")
    assert deploy_environment("dev", {role: "from-stack"})[role] == "from-env"


def test_staging_without_roles_and_image_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"cannot deploy 'staging': no value for \['FEATURELAKE_BUILD_TASK_ROLE_ARN'"):
        deploy_environment("staging", {})


def test_staging_with_the_stack_outputs_and_an_image_is_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_IMAGE", "123.dkr.ecr.eu-west-1.amazonaws.com/featurelake:abc123")
    roles = {placeholder: f"arn:aws:iam::123:role/{placeholder}" for placeholder in STACK_OUTPUTS.values()}
    values = deploy_environment("staging", roles)
    assert values["FEATURELAKE_WORK_POOL"] == "featurelake-ecs-staging"
    assert values["FEATURELAKE_INGEST_TASK_ROLE_ARN"] == "arn:aws:iam::123:role/FEATURELAKE_INGEST_TASK_ROLE_ARN"


def test_dev_may_leave_image_and_roles_empty() -> None:
    assert deploy_environment("dev", {})["FEATURELAKE_INGEST_TASK_ROLE_ARN"] == ""


def test_a_malformed_line_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.env"
    bad.write_text("# fine\nA=1\nexport B=2\n")
    with pytest.raises(ValueError, match=r"x.env:3: expected NAME=value, got 'export B=2'"):
        read_env_file(bad)

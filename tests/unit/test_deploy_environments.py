"""Per-environment values for deployments/prefect.yaml: complete for every environment, refused when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurelake.deploy.prefect_file import (
    ENVIRONMENTS_DIR,
    STACK_OUTPUTS,
    environment_values,
    load_deployment_specs,
    missing_values,
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


def test_the_placeholders_are_the_pool_the_image_the_roles_and_the_debounce() -> None:
    assert placeholders() == {
        "FEATURELAKE_WORK_POOL",
        "FEATURELAKE_IMAGE",
        "FEATURELAKE_RETRAIN_DEBOUNCE",
        *STACK_OUTPUTS.values(),
    }


def test_filled_specs_keep_event_templates_and_runtime_placeholders() -> None:
    specs = load_deployment_specs(values=environment_values("dev", overrides={}))
    retrain = next(s for s in specs if s["name"] == "fraud-model")
    assert retrain["work_pool"]["name"] == "featurelake-local"
    (trigger,) = retrain["triggers"]
    assert trigger["within"] == "PT20S"
    assert trigger["parameters"]["delta_version"] == "{{ event.payload.delta_version }}"


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

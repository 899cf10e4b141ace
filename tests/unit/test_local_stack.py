"""The local stack's start-up: one timeout setting, failures that say what to do, and the env file it writes.

No servers: a "service" here is a Python child that never answers (or exits at once).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.local.processes import START_TIMEOUT_SETTING, StackError, free_port, start_service
from featurelake.local.stack import LocalStack
from featurelake.settings import get_settings

NEVER_ANSWERS = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_a_service_that_never_answers_names_itself_its_wait_its_log_and_the_setting(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(StackError) as raised:
        start_service("mlflow", NEVER_ANSWERS, dict(os.environ), tmp_path, url, "/health", timeout=1)

    message = str(raised.value)
    assert message.startswith(f"mlflow did not answer {url}/health within 1 s")
    assert f"see its log {tmp_path / 'mlflow.log'}" in message
    assert f"{START_TIMEOUT_SETTING}=<seconds>" in message


def test_a_service_that_exits_says_its_exit_code_and_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(StackError, match=r"^s3 exited with code 3 after \d+ s, before answering") as raised:
        start_service("s3", command, dict(os.environ), tmp_path, url, "/health", timeout=60)

    assert str(tmp_path / "s3.log") in str(raised.value)


def test_every_health_wait_comes_from_the_one_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(START_TIMEOUT_SETTING, "1")
    get_settings.cache_clear()
    try:
        stack = LocalStack(tmp_path)
    finally:
        get_settings.cache_clear()
    stack.env = {**os.environ}

    with pytest.raises(StackError, match=f"worker did not answer .* within 1 s.*{START_TIMEOUT_SETTING}"):
        stack._start("worker", NEVER_ANSWERS, f"http://127.0.0.1:{free_port()}", "/health")

    assert stack.start_timeout == 1
    assert stack.services == []  # a service that failed to start was stopped, not kept


def test_the_default_wait_is_generous_for_a_loaded_two_core_machine() -> None:
    assert LocalStack(Path("unused")).start_timeout >= 600


def _written_env(tmp_path: Path) -> tuple[LocalStack, dict[str, str]]:
    stack = LocalStack(tmp_path)
    stack.state_dir = tmp_path
    stack.env = stack._environment(4566, 4200, 5000)
    stack._write_env_file()
    shown = subprocess.run(
        ["bash", "-c", f"env -i bash -c 'source {stack.env_file} && env'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return stack, dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


def test_env_file_points_awscli_and_boto3_at_the_local_endpoint(tmp_path: Path) -> None:
    import boto3

    _, exported = _written_env(tmp_path)

    assert exported["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert exported["FEATURELAKE_S3_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert exported["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            patch.setenv(key, exported[key])
        assert boto3.client("s3").meta.endpoint_url == "http://127.0.0.1:4566"
        assert boto3.client("sqs").meta.endpoint_url == "http://127.0.0.1:4566"


def test_mlflow_job_consumers_and_telemetry_are_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY, MLFLOW_SERVER_ENABLE_JOB_EXECUTION

    _, exported = _written_env(tmp_path)
    for key in ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "MLFLOW_DISABLE_TELEMETRY"):
        monkeypatch.setenv(key, exported[key])

    assert MLFLOW_SERVER_ENABLE_JOB_EXECUTION.get() is False  # the name MLflow's server reads
    assert MLFLOW_DISABLE_TELEMETRY.get() is True

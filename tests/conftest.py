"""Shared fixtures: a real moto S3 server on loopback and per-test isolated settings."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from featurelake.io.aws.s3 import ensure_bucket
from featurelake.local.processes import Service, free_port, start_service
from featurelake.settings import Settings

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real moto S3 server process, shared by the session; credentials are local dummies."""
    port = free_port()
    moto = str(Path(sys.executable).parent / "moto_server")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    service: Service = start_service(
        "moto",
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        env,
        tmp_path_factory.mktemp("moto"),
        url=f"http://127.0.0.1:{port}",
        health_path="/moto-api/data.json",
        timeout=60,
    )
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    yield service.url
    service.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@functools.cache
def _empty_mlflow_store() -> Path:
    """An empty MLflow SQLite store with its schema, made once per test process.

    Creating a store runs MLflow's schema migrations, about 2 s of CPU; every test that needs a
    fresh store gets a copy of this one instead (milliseconds), which is the same empty store.
    Experiments created in a copy take their artifact location from the process that creates
    them, not from this file.
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    directory = Path(tempfile.mkdtemp(prefix="featurelake-mlflow-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{path}", str(directory / "artifacts"))
    store.engine.dispose()
    return path


def isolated_settings(s3_endpoint: str, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with fresh buckets and a fresh MLflow SQLite store, also in the environment.

    The environment carries them so that flows and the CLI (which read ``get_settings()``) see the same.
    """
    from featurelake.settings import get_settings

    suffix = uuid.uuid4().hex[:8]
    shutil.copyfile(_empty_mlflow_store(), state_dir / "mlflow.db")
    values = {
        "raw_bucket": f"raw-{suffix}",
        "lake_uri": f"s3://lake-{suffix}",
        "s3_endpoint_url": s3_endpoint,
        "mlflow_tracking_uri": f"sqlite:///{state_dir / 'mlflow.db'}",
        "state_dir": str(state_dir),
    }
    for key, value in values.items():
        monkeypatch.setenv(f"FEATURELAKE_{key.upper()}", value)
    get_settings.cache_clear()
    current = Settings()
    ensure_bucket(current, current.raw_bucket)
    ensure_bucket(current, current.lake_bucket)
    return current


@pytest.fixture
def settings(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings with fresh buckets and a fresh MLflow SQLite store for one test."""
    from featurelake.settings import get_settings

    yield isolated_settings(s3_endpoint, tmp_path, monkeypatch)
    get_settings.cache_clear()

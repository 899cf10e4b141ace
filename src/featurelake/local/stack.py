"""Start and stop the embedded stack: moto S3, a Prefect server on SQLite, MLflow on SQLite.

Every service binds to loopback, keeps its state under the project-local state directory and
runs in its own process group, so stopping the stack leaves nothing behind.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from featurelake.deploy.prefect_file import environment_values
from featurelake.local.processes import Service, StackError, free_port, start_service

LOCAL_AWS_KEY = "featurelake-local"
_STACK_VARIABLES = ("FEATURELAKE_", "AWS_", "PREFECT_", "MLFLOW_")


def _bin(name: str) -> str:
    """A console script installed beside the running interpreter."""
    return str(Path(sys.executable).parent / name)


@dataclass
class LocalStack:
    """The local services and the environment that points every process at them."""

    state_dir: Path
    project_dir: Path = field(default_factory=Path.cwd)
    prefect_port: int | None = 4200
    mlflow_port: int | None = 5000
    services: list[Service] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def start(self, say: Callable[[str], None] = print) -> dict[str, str]:
        """Start S3, Prefect and MLflow; return the environment for processes that use them."""
        self.state_dir = self.state_dir.resolve()
        (self.state_dir / "prefect").mkdir(parents=True, exist_ok=True)
        s3_port, prefect_port, mlflow_port = free_port(None), free_port(self.prefect_port), free_port(self.mlflow_port)
        self.env = self._environment(s3_port, prefect_port, mlflow_port)
        say(f"starting S3 emulator (moto) on 127.0.0.1:{s3_port}")
        self._start(
            "s3",
            [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
            f"http://127.0.0.1:{s3_port}",
            "/moto-api/data.json",
            60,
        )
        say(f"starting Prefect server on 127.0.0.1:{prefect_port} (first start on a new database takes ~25 s)")
        self._start(
            "prefect-server",
            [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            f"http://127.0.0.1:{prefect_port}",
            "/api/health",
            180,
        )
        say(f"starting MLflow tracking server on 127.0.0.1:{mlflow_port}")
        self._start("mlflow", self._mlflow_command(mlflow_port), f"http://127.0.0.1:{mlflow_port}", "/health", 120)
        self._write_env_file()
        return self.env

    @property
    def env_file(self) -> Path:
        """A shell file exporting what the CLIs (featurelake, prefect, mlflow) need to use this stack."""
        return self.state_dir / "env.sh"

    def _write_env_file(self) -> None:
        exported = {k: v for k, v in self.env.items() if k.startswith(_STACK_VARIABLES)}
        lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(exported.items())]
        self.env_file.write_text("# source this file to point the CLIs at the local stack\n" + "\n".join(lines) + "\n")

    def deploy_and_start_worker(self, say: Callable[[str], None] = print) -> Service:
        """Register every deployment as production does, then start a process worker to run them.

        ``featurelake deploy --env dev`` creates the process pool and runs ``prefect deploy --all``
        on ``deployments/prefect.yaml``; the worker runs each flow run in its own process from
        this checkout (the file's pull step changes into ``FEATURELAKE_PROJECT_DIR``).
        """
        import subprocess

        say("registering deployments: featurelake deploy --env dev (prefect deploy --all)")
        log = self.state_dir / "logs" / "deploy.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            done = subprocess.run(
                [_bin("featurelake"), "deploy", "--env", "dev"],
                env=self.env,
                cwd=self.project_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise StackError(f"featurelake deploy --env dev failed (exit {done.returncode}); see {log}")
        port, pool = free_port(None), environment_values("dev", overrides=self.env)["FEATURELAKE_WORK_POOL"]
        say(f"starting a process worker on pool {pool}")
        worker_env = {**self.env, "PREFECT_WORKER_WEBSERVER_PORT": str(port), "PYTHONUNBUFFERED": "1"}
        command = [_bin("prefect"), "worker", "start", "--pool", pool, "--type", "process"]
        command += ["--with-healthcheck", "--no-create-pool-if-not-found"]
        service = start_service(
            "worker", command, worker_env, self.state_dir / "logs", f"http://127.0.0.1:{port}", "/health", 60
        )
        self.services.append(service)
        return service

    def stop(self) -> None:
        """Stop every service this stack started, newest first."""
        while self.services:
            self.services.pop().stop()

    @property
    def prefect_ui_url(self) -> str:
        """Where a person opens the Prefect UI."""
        return self.env["PREFECT_API_URL"].removesuffix("/api")

    @property
    def mlflow_url(self) -> str:
        """Where a person opens the MLflow UI."""
        return self.env["FEATURELAKE_MLFLOW_TRACKING_URI"]

    def _start(self, name: str, command: list[str], url: str, health: str, timeout: float) -> None:
        env = {**self.env, "PYTHONUNBUFFERED": "1"}
        self.services.append(start_service(name, command, env, self.state_dir / "logs", url, health, timeout))

    def _mlflow_command(self, port: int) -> list[str]:
        return [
            _bin("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.state_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.state_dir / "mlartifacts"),
        ]

    def _environment(self, s3_port: int, prefect_port: int, mlflow_port: int) -> dict[str, str]:
        prefect_home = self.state_dir / "prefect"
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "FEATURELAKE_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "FEATURELAKE_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            "FEATURELAKE_STATE_DIR": str(self.state_dir),
            "FEATURELAKE_PROJECT_DIR": str(self.project_dir),
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "GIT_PYTHON_REFRESH": "quiet",
        }

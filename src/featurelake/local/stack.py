"""Start and stop the embedded stack: moto S3, Prefect and MLflow on SQLite, a worker, the event source.

Every service binds to loopback, keeps its state under the project-local state directory and
runs in its own process group, so stopping the stack leaves nothing behind. Every health wait
comes from one setting, ``FEATURELAKE_STACK_START_TIMEOUT`` (seconds): a loaded 2-core machine
can take minutes to start a Prefect server on a new database.
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
from featurelake.settings import get_settings

LOCAL_AWS_KEY = "featurelake-local"
#: What env.sh exports: the stack's settings, and PYTHONPATH so a features package kept outside
#: the checkout (``FEATURELAKE_FEATURES_MODULE``) is importable in the second shell too.
LOCAL_BREAK_GLASS_ROLE = "arn:aws:iam::123456789012:role/featurelake-break-glass"
_STACK_VARIABLES = ("FEATURELAKE_", "AWS_", "PREFECT_", "MLFLOW_", "PYTHONPATH")


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
    #: Seconds each service may take to answer its health check (``FEATURELAKE_STACK_START_TIMEOUT``).
    start_timeout: float = field(default_factory=lambda: get_settings().stack_start_timeout)
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
        )
        say(f"starting Prefect server on 127.0.0.1:{prefect_port} (first start on a new database takes ~25 s)")
        self._start(
            "prefect-server",
            [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            f"http://127.0.0.1:{prefect_port}",
            "/api/health",
        )
        say(f"starting MLflow tracking server on 127.0.0.1:{mlflow_port}")
        self._start("mlflow", self._mlflow_command(mlflow_port), f"http://127.0.0.1:{mlflow_port}", "/health")
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
        """Register every deployment as production does, start a process worker, then the event source.

        ``featurelake deploy --env dev`` creates the process pool and runs ``prefect deploy --all``
        on ``deployments/prefect.yaml``; the worker runs each flow run in its own process from
        this checkout (the file's pull step changes into ``FEATURELAKE_PROJECT_DIR``). The event
        source starts last, once the automations it feeds exist. Returns the worker.
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
        worker_env = {**self.env, "PREFECT_WORKER_WEBSERVER_PORT": str(port)}
        command = [_bin("prefect"), "worker", "start", "--pool", pool, "--type", "process"]
        command += ["--with-healthcheck", "--no-create-pool-if-not-found"]
        worker = self._start("worker", command, f"http://127.0.0.1:{port}", "/health", worker_env)
        self.start_event_source(say)
        return worker

    def start_event_source(self, say: Callable[[str], None] = print) -> Service:
        """The local S3-event path: the raw bucket notifies an SQS queue, a process announces each object.

        See :mod:`featurelake.local.events`; it costs one long poll per 20 s when nothing lands.
        """
        port = free_port(None)
        say("starting the raw-bucket event source (S3 notifications → SQS → featurelake.raw-object.landed)")
        command = [sys.executable, "-m", "featurelake.local.events", "--health-port", str(port)]
        return self._start("events", command, f"http://127.0.0.1:{port}", "/health")

    def start_feature_server(self, say: Callable[[str], None] = print) -> Service:
        """``featurelake serve-features`` on a free port: the online feature API, as a team would run it."""
        port = free_port(None)
        say(f"starting the feature server (featurelake serve-features) on 127.0.0.1:{port}")
        command = [_bin("featurelake"), "serve-features", "--host", "127.0.0.1", "--port", str(port)]
        return self._start("feature-server", command, f"http://127.0.0.1:{port}", "/health")

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

    def _start(
        self, name: str, command: list[str], url: str, health: str, env: dict[str, str] | None = None
    ) -> Service:
        """Start one service, wait up to ``start_timeout`` for its health URL, and keep it for :meth:`stop`."""
        env = {**(env or self.env), "PYTHONUNBUFFERED": "1"}
        service = start_service(name, command, env, self.state_dir / "logs", url, health, self.start_timeout)
        self.services.append(service)
        return service

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
            # awscli and boto3 (≥ 1.28) read it: `aws s3 ls` finds the local endpoint by itself.
            # moto serves S3, SQS, DynamoDB and Secrets Manager on it, so one URL fits every service.
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "FEATURELAKE_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            "FEATURELAKE_STATE_DIR": str(self.state_dir),
            "FEATURELAKE_PROJECT_DIR": str(self.project_dir),
            # The principal that alone may rewrite raw objects (an erasure's raw step); moto's STS
            # lets any role be assumed, as the stack's break-glass role would be on AWS.
            "FEATURELAKE_BREAK_GLASS_ROLE_ARN": LOCAL_BREAK_GLASS_ROLE,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            # Server loops for what the local stack never does (pauses, cancellations, task-run
            # leases) or needs no faster (late runs, offline workers, schedules of just-deployed
            # deployments) wake every 30-60 s instead of every 5-20 s: the server's idle CPU went
            # from 3.5 % to 2.0-2.5 % of a core (bench/results/idle-stack-*.md).
            "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "30",
            "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "60",
            "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "60",
            "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "60",
            "PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS": "60",
            "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "30",
            # The worker's poll: a run is picked up ≤ 2 s after it is due, for ~1.5 % of a core when
            # idle (bench/idle_stack.py); export a longer one before starting for a quieter stack.
            "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", "2"),
            "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # MLflow 3's server otherwise starts eight huey job consumers (~1.7 GB) nobody here uses.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "GIT_PYTHON_REFRESH": "quiet",
        }

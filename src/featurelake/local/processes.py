"""Child processes that are always cleaned up: each in its own process group.

Prefect's server and MLflow start workers of their own, so stopping a child means signalling
its whole group, first politely, then for good.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The one setting every health wait of the local stack comes from (seconds), named in every timeout.
START_TIMEOUT_SETTING = "FEATURELAKE_STACK_START_TIMEOUT"


class StackError(RuntimeError):
    """A local service could not be started; the message names it and its log."""


@dataclass
class Service:
    """A started child process with its log file and health URL."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after the grace period."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=grace_seconds)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def free_port(preferred: int | None = None) -> int:
    """The preferred port if it is free on loopback, else any free one."""
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise StackError("no free TCP port on 127.0.0.1")


def start_service(
    name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path, url: str, health_path: str, timeout: float
) -> Service:
    """Start a child in its own process group and wait until its health URL answers."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    service = Service(name, process, log_path, url)
    try:
        wait_for_http(url + health_path, timeout, service)
    except BaseException:
        service.stop()
        raise
    return service


def wait_for_http(url: str, timeout: float, service: Service | None = None) -> None:
    """Poll a URL until it answers 2xx, the process dies, or time runs out.

    Raises:
        ValueError: for anything but an http(s) URL (urlopen would also read ``file:`` URLs).
    """
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError(f"health URL must be http(s), got {url!r}")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if service is not None and service.process.poll() is not None:
            waited = time.monotonic() - started
            raise StackError(
                f"{service.name} exited with code {service.process.returncode} after {waited:.0f} s, "
                f"before answering {url}; see its log {service.log_path}"
            )
        try:
            # bandit B310 (file: URLs) does not apply: the scheme was checked above
            with urllib.request.urlopen(url, timeout=2) as response:  # nosec B310
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise StackError(_timeout_message(url, timeout, service))


def _timeout_message(url: str, timeout: float, service: Service | None) -> str:
    """Which service, how long it was given, where its log is and how to give it longer."""
    if service is None:
        return f"{url} did not answer within {timeout:.0f} s"
    return (
        f"{service.name} did not answer {url} within {timeout:.0f} s; see its log {service.log_path}. "
        f"A busy machine can need longer: raise the limit with {START_TIMEOUT_SETTING}=<seconds> "
        f"(now {timeout:.0f})"
    )

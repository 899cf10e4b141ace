"""Whether the services a command needs answer, asked before the command does anything.

A client that cannot connect retries for a long time (boto3 about 40 s, delta-rs about 8 s,
MLflow minutes) and then fails with a traceback several screens long. One TCP connection with
a short timeout tells the user within seconds which service is down and which setting names it.
Only endpoints the settings name are checked: with none (AWS itself, a SQLite MLflow, a lake on
the local file system) there is nothing to ask, and the command goes ahead.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featurelake.settings import Settings

#: Seconds a service may take to accept a connection before it counts as down.
CONNECT_TIMEOUT = 3.0
PREFECT_API_URL = "PREFECT_API_URL"


class ServiceUnreachableError(ConnectionError):
    """A service the command needs does not accept connections; the message names its setting."""


def require_raw_bucket(settings: Settings) -> None:
    """The S3 endpoint the raw bucket is on, when the settings name one (the local stack's moto)."""
    if settings.s3_endpoint_url:
        _require(settings.s3_endpoint_url, "the S3 endpoint", "FEATURELAKE_S3_ENDPOINT_URL", settings)


def require_lake(settings: Settings) -> None:
    """The lake's S3 endpoint, for a lake on S3 behind a named endpoint; a local lake needs nothing."""
    if settings.lake_uri.startswith("s3://"):
        require_raw_bucket(settings)


def require_mlflow(settings: Settings) -> None:
    """The MLflow tracking server, when the tracking URI is one (a ``sqlite:`` or file store needs none)."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("http://", "https://")):
        _require(uri, "the MLflow tracking server", "FEATURELAKE_MLFLOW_TRACKING_URI", settings)


def require_prefect(settings: Settings) -> None:
    """A Prefect API that answers: commands that emit events or register deployments need one.

    Raises:
        ServiceUnreachableError: when PREFECT_API_URL names a server that does not answer, or no
            API is configured at all (Prefect would quietly start a throwaway server instead).
    """
    if not prefect_configured(settings):
        raise ServiceUnreachableError(
            f"{PREFECT_API_URL} is not set, so there is no Prefect server to talk to: {_start_hint(settings)}, "
            "or export PREFECT_API_URL for your server"
        )


def prefect_configured(settings: Settings) -> bool:
    """Whether a Prefect API is configured; one named in the environment is checked to answer.

    Raises:
        ServiceUnreachableError: when PREFECT_API_URL names a server that does not answer.
    """
    url = prefect_api_url()
    if url is None:  # not in the environment: perhaps in the active Prefect profile
        from featurelake.io.prefect.api import api_url  # imports Prefect: seconds

        url = api_url()
    if url is None:
        return False
    _require(url, "the Prefect API", PREFECT_API_URL, settings)
    return True


def prefect_api_url() -> str | None:
    """PREFECT_API_URL from the environment (a URL set only in a Prefect profile is not checked)."""
    return os.environ.get(PREFECT_API_URL) or None


def answers(url: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether the host and port of ``url`` accept a TCP connection within ``timeout`` seconds."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _require(url: str, what: str, setting: str, settings: Settings) -> None:
    if not answers(url):
        raise ServiceUnreachableError(
            f"{what} at {url} ({setting}) does not answer: {_start_hint(settings)}, or fix {setting}"
        )


def _start_hint(settings: Settings) -> str:
    """How to get the local stack up and point this shell at it."""
    env_file = settings.state_dir / "env.sh"
    return f"start the local stack (`featurelake demo --stack-only`) and `source {env_file}`"

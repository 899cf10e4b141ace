"""OpenLineage transport: deliver run events to a JSON-lines file and/or a collector's HTTP API.

The events themselves are built in :mod:`featurelake.lineage.openlineage`; this adapter only moves
them. Lineage only observes: a collector that is down, a file that cannot be written or an API
key that is not a valid header logs a warning and never fails the pipeline. Secrets never reach
a log: the API key is scrubbed from unexpected errors and user-info is stripped from URLs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from featurelake.settings import Settings

logger = logging.getLogger(__name__)

LINEAGE_PATH = "/api/v1/lineage"
#: Pauses before the second and third HTTP attempts (seconds); 5xx and connection errors retry.
_BACKOFF = (0.5, 2.0)
_TIMEOUT_SECONDS = 5.0
#: Failures worth another attempt: the collector may be restarting or briefly overloaded.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def emit_lineage(
    settings: Settings,
    event: Mapping[str, Any],
    *,
    backoff: Sequence[float] = _BACKOFF,
    timeout: float = _TIMEOUT_SECONDS,
) -> bool:
    """Send one run event to every configured transport (file, then HTTP); never raise.

    Args:
        settings: Where to send (``openlineage_file``, ``openlineage_url``, ``openlineage_api_key``).
        event: A JSON-ready run event, as :func:`featurelake.lineage.openlineage.run_event` builds it.
        backoff: Pauses (seconds) before each HTTP retry.
        timeout: Seconds to wait for each HTTP attempt.

    Returns:
        True when every configured transport took the event; False when one failed (logged as
        a warning) or when none is configured (``FEATURELAKE_OPENLINEAGE_URL`` / ``_FILE``).
    """
    if settings.openlineage_file is None and not settings.openlineage_url:
        return False
    try:
        return _deliver(settings, event, backoff, timeout)
    except Exception as exc:  # an observer must not fail the run it observes
        logger.warning("OpenLineage event not sent: %s", _scrub(f"{type(exc).__name__}: {exc}", settings))
        return False


def _deliver(settings: Settings, event: Mapping[str, Any], backoff: Sequence[float], timeout: float) -> bool:
    """Write then POST; each configured transport is tried even when the other failed."""
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    delivered = True
    if settings.openlineage_file is not None:
        delivered &= _append(settings.openlineage_file, body)
    if settings.openlineage_url:
        key = settings.openlineage_api_key
        token = key.get_secret_value() if key is not None else None
        endpoint = lineage_endpoint(settings.openlineage_url)
        if token and not (token.isascii() and token.isprintable()):
            logger.warning(
                "OpenLineage event not sent to %s: the API key is not a valid header value", _redact(endpoint)
            )
            return False
        delivered &= _post(endpoint, body, token, backoff, timeout)
    return delivered


def lineage_endpoint(url: str) -> str:
    """``<url>/api/v1/lineage``, accepting a URL that already ends with the path."""
    base = url.rstrip("/")
    return base if base.endswith(LINEAGE_PATH) else f"{base}{LINEAGE_PATH}"


def _append(path: Path, body: str) -> bool:
    """One line per event, in a single O_APPEND write so concurrent runs never interleave."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (body + "\n").encode())
        finally:
            os.close(fd)
    except OSError as exc:
        logger.warning("OpenLineage event not written to %s: %s", path, exc)
        return False
    return True


def _post(endpoint: str, body: str, token: str | None, backoff: Sequence[float], timeout: float) -> bool:
    """POST with retries on 5xx and connection errors; a 4xx is our bug and is not retried."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    problem, attempts = "", 0
    for pause in (0.0, *backoff):
        time.sleep(pause)
        attempts += 1
        try:
            response = httpx.post(endpoint, content=body.encode(), headers=headers, timeout=timeout)
        except _TRANSIENT as exc:
            problem = f"{type(exc).__name__}: {exc}"
            continue
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
            break
        if response.is_success:
            return True
        problem = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code < 500 and response.status_code != 429:
            break
    logger.warning(
        "OpenLineage event not delivered to %s after %d attempt(s) (%s); the run goes on without it",
        _redact(endpoint),
        attempts,
        problem,
    )
    return False


def _scrub(text: str, settings: Settings) -> str:
    """``text`` without the API key, for messages of errors we did not anticipate."""
    key = settings.openlineage_api_key
    return text.replace(key.get_secret_value(), "***") if key and key.get_secret_value() else text


def _redact(url: str) -> str:
    """The URL without user-info, so credentials embedded in it never reach a log."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=host))

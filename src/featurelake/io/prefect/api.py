"""Which Prefect API this process talks to (a server or Cloud), for commands that emit events."""

from __future__ import annotations


def api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment or the active Prefect profile (imports Prefect: seconds)."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None

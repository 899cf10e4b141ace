"""Whether this process talks to a Prefect API (a server or Cloud), for commands that emit events."""

from __future__ import annotations


def api_configured() -> bool:
    """True when ``PREFECT_API_URL`` is set (Prefect is imported on first use: it costs seconds)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())

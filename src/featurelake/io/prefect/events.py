"""Emit featurelake's events to the Prefect API (names, payloads and ids are in :mod:`featurelake.core.events`)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from featurelake.core.events import event_id


def emit(
    name: str,
    resource_id: str,
    payload: BaseModel,
    discriminator: str,
    labels: dict[str, str] | None = None,
    related: list[dict[str, str]] | None = None,
) -> uuid.UUID:
    """Emit an event to the configured Prefect API and return its id (Prefect is imported on first use: seconds)."""
    from prefect.events import emit_event

    resource: dict[str, Any] = {"prefect.resource.id": resource_id, **(labels or {})}
    identifier = event_id(name, resource_id, discriminator)
    emit_event(
        event=name,
        resource=resource,
        payload=payload.model_dump(mode="json"),
        related=related,
        id=identifier,
    )
    return identifier

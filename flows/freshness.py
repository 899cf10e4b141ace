"""Freshness: tell everyone when a feature set has gone too long without a publish.

Each feature set with a ``max_staleness`` has a deployment of this flow in
``deployments/prefect.yaml`` whose trigger is proactive: Prefect starts it when no
``featurelake.feature-set.published`` event for that set arrived within ``max_staleness``.
The flow then emits ``featurelake.feature-set.stale`` with what the lake says about the last
publish, for alerting and dashboards (see :mod:`featurelake.observe.freshness`).
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from featurelake.core import catalog
from featurelake.io.delta.store import DeltaStore
from featurelake.observe import freshness
from featurelake.settings import get_settings


@flow(name="feature-set-stale", log_prints=True)
def announce_stale(feature_set: str, version: int) -> dict[str, object]:
    """Emit ``featurelake.feature-set.stale`` for one feature set version, with its last publish."""
    settings = get_settings()
    spec = catalog.load(settings.features_module).get(feature_set, version)
    payload = freshness.announce_stale(DeltaStore(settings), spec)
    last = payload.last_publish_time or "never"
    get_run_logger().warning("%s is stale: no publish within %s (last: %s)", spec.ref, spec.max_staleness, last)
    return payload.model_dump()

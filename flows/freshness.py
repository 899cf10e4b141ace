"""Freshness: tell everyone when a feature set has gone too long without a publish.

Each feature set with a ``max_staleness`` has a deployment of this flow in
``deployments/prefect.yaml`` whose trigger is proactive: Prefect starts it when no
``featurelake.feature-set.published`` event for that set arrived within ``max_staleness``.
The flow then emits ``featurelake.feature-set.stale`` with what the lake says about the last
publish, for alerting and dashboards.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from featurelake.core import catalog, events
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.observe.status import last_publish
from featurelake.settings import get_settings


@flow(name="feature-set-stale", log_prints=True)
def announce_stale(feature_set: str, version: int) -> dict[str, object]:
    """Emit ``featurelake.feature-set.stale`` for one feature set version, with its last publish."""
    settings = get_settings()
    spec = catalog.load(settings.features_module).get(feature_set, version)
    if spec.max_staleness is None:
        raise ValueError(f"{spec.ref} sets no max_staleness; its freshness is not watched")
    last = last_publish(DeltaStore(settings), spec)
    payload = events.FeatureSetStale(
        feature_set=spec.name,
        feature_set_version=spec.version,
        max_staleness_seconds=spec.max_staleness.total_seconds(),
        last_publish_time=None if last is None else last[1].isoformat(),
        last_delta_version=None if last is None else last[0],
    )
    # One stale event per stale stretch: the id follows the last publish, so repeats collapse.
    discriminator = events.at(settings.table_uri(spec.table_path), f"stale-after-{payload.last_delta_version}")
    emit(events.FEATURE_SET_STALE, feature_set_resource_id(spec), payload, discriminator)
    get_run_logger().warning("%s is stale: no publish within %s (last: %s)", spec.ref, spec.max_staleness, last)
    return payload.model_dump()

"""Freshness: the ``featurelake.feature-set.stale`` event of a feature set that went too long without a publish.

Prefect decides *when* a set is stale (a proactive trigger per set with a ``max_staleness``, see
``deployments/prefect.yaml``); this says *what* the lake knows then: the last publish and its
Delta version. The event id follows that last publish, so one stale stretch gives one event
however often the trigger fires.
"""

from __future__ import annotations

from featurelake.core import events
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.observe.status import last_publish


def stale_payload(store: DeltaStore, spec: FeatureSet) -> events.FeatureSetStale:
    """What the lake says about a stale feature set: its limit and its last publish (if any).

    Raises:
        ValueError: for a feature set without ``max_staleness`` (its freshness is not watched).
    """
    if spec.max_staleness is None:
        raise ValueError(f"{spec.ref} sets no max_staleness; its freshness is not watched")
    last = last_publish(store, spec)
    return events.FeatureSetStale(
        feature_set=spec.name,
        feature_set_version=spec.version,
        max_staleness_seconds=spec.max_staleness.total_seconds(),
        last_publish_time=None if last is None else last[1].isoformat(),
        last_delta_version=None if last is None else last[0],
    )


def announce_stale(store: DeltaStore, spec: FeatureSet) -> events.FeatureSetStale:
    """Emit ``featurelake.feature-set.stale`` for a feature set version; one event per stale stretch.

    Returns:
        The payload sent.

    Raises:
        ValueError: for a feature set without ``max_staleness``.
    """
    payload = stale_payload(store, spec)
    discriminator = events.at(store.uri(spec.table_path), f"stale-after-{payload.last_delta_version}")
    emit(events.FEATURE_SET_STALE, feature_set_resource_id(spec), payload, discriminator)
    return payload

"""Materialize: a published feature set version's latest rows per entity → the online store (DynamoDB).

Started by the automation on ``featurelake.feature-set.published`` (deployments/prefect.yaml,
``materialize/on-publish``) with the published version; ``mode="full"`` rewrites every entity of
that version (what ``featurelake materialize`` and a rollback do). Writes are conditional, so
repeated, overlapping or out-of-order runs converge (see docs/how-to/serve-features-online.md).
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from featurelake.core import catalog
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.store import DeltaStore
from featurelake.serve.announce import announce_materialized, materialized_markdown
from featurelake.serve.materialize import materialize as write_online
from featurelake.settings import get_settings


@flow(name="materialize", log_prints=True)
def materialize(
    feature_set: str,
    feature_set_version: int,
    delta_version: int | None = None,
    mode: Literal["incremental", "full"] = "incremental",
) -> dict[str, object]:
    """Write ``feature_set:v<feature_set_version>`` at ``delta_version`` (latest when None) to its online table."""
    settings = get_settings()
    spec = catalog.load(settings.features_module).get(feature_set, feature_set_version)
    result = write_online(DeltaStore(settings), OnlineStore(settings), spec, delta_version=delta_version, mode=mode)
    payload = result.event()
    announce_materialized(spec, payload)
    create_markdown_artifact(
        markdown=materialized_markdown(payload),
        key="online-store-materialized",
        description=f"{spec.ref} → {payload.online_table}",
    )
    get_run_logger().info(
        "%s @ %s → %s: %d written, %d skipped of %d entities",
        spec.ref,
        payload.delta_version,
        payload.online_table,
        payload.items_written,
        payload.items_skipped,
        payload.entities_considered,
    )
    return payload.model_dump()

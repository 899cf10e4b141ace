"""Say what a materialization did: the ``featurelake.online-store.materialized`` event and its summary.

The event id is derived from the online table, the Delta version and the mode, so a rerun of
the same materialization (an automation firing twice) collapses into the first event, while a
full backfill of a version already written incrementally is a separate happening.
"""

from __future__ import annotations

from featurelake.core import events
from featurelake.core.commits import Versioned
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.prefect.events import emit


def online_store_resource_id(online_table: str) -> str:
    """The Prefect event resource id of one online table."""
    return f"featurelake.online-store.{online_table}"


def announce_materialized(spec: Versioned, payload: events.OnlineStoreMaterialized) -> str:
    """Emit ``featurelake.online-store.materialized`` (related to the feature set) and return its id."""
    emitted = emit(
        events.ONLINE_STORE_MATERIALIZED,
        online_store_resource_id(payload.online_table),
        payload,
        f"{events.at(payload.table_uri, payload.delta_version)}|{payload.mode}",
        labels={events.TABLE_URI_LABEL: payload.table_uri, events.DELTA_VERSION_LABEL: str(payload.delta_version)},
        related=[{"prefect.resource.id": feature_set_resource_id(spec), "prefect.resource.role": "feature-set"}],
    )
    return str(emitted)


def materialized_markdown(payload: events.OnlineStoreMaterialized) -> str:
    """The run's summary for the Prefect UI: what was considered, written and skipped, and where."""
    set_ref = f"{payload.feature_set}:v{payload.feature_set_version}"
    return "\n".join(
        [
            f"# {set_ref} → online store ({payload.mode})",
            "",
            "| | |",
            "|---|---|",
            f"| feature table | `{payload.table_uri}` @ Delta version {payload.delta_version} |",
            f"| online table | `{payload.online_table}` |",
            f"| entities considered | {payload.entities_considered} |",
            f"| items written | {payload.items_written} |",
            f"| items skipped (store already as new or newer) | {payload.items_skipped} |",
        ]
    )

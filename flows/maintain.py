"""Maintenance: vacuum every published feature table on a schedule, never what a model needs.

Deleted files are gone for good, so each table is vacuumed by the same guarded operation as
``featurelake vacuum``: versions a registered model was trained on keep their files, and the
vacuum is refused if delta-rs plans otherwise. One table's failure does not stop the others;
the run fails at the end, naming them.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from featurelake import catalog, operations
from featurelake.io.delta import DeltaStore
from featurelake.settings import get_settings


@flow(name="maintain", log_prints=True)
def maintain(
    retain_hours: float = 168.0, dry_run: bool = False, allow_short_retention: bool = False
) -> list[dict[str, object]]:
    """Vacuum each published feature table, keeping removed files younger than ``retain_hours``.

    ``allow_short_retention`` permits less than the table's minimum (7 days): only when no job
    is reading an older snapshot, since its files may go.
    """
    settings, logger = get_settings(), get_run_logger()
    store = DeltaStore(settings)
    rows: list[dict[str, object]] = []
    failed: list[str] = []
    for spec in catalog.load(settings.features_module).feature_sets.values():
        if store.version(spec.table_path) is None:
            continue
        try:
            result = operations.vacuum(
                store,
                settings,
                spec,
                timedelta(hours=retain_hours),
                dry_run=dry_run,
                allow_short_retention=allow_short_retention,
                actor="maintain",
            )
        except Exception as error:  # refused or failed: the other tables still get their vacuum
            logger.error("vacuum of %s refused: %s", spec.ref, error)
            failed.append(spec.ref)
            empty = {"removed": 0, "kept_for_models": 0, "protected_versions": ""}
            rows.append({"feature_set": spec.ref, **empty, "error": str(error)})
            continue
        rows.append(
            {
                "feature_set": spec.ref,
                "removed": len(result.removed),
                "kept_for_models": len(result.kept),
                "protected_versions": ",".join(map(str, result.protected_versions)),
                "error": "",
            }
        )
    create_table_artifact(table=rows, key="maintenance", description=f"Vacuum (dry run: {dry_run})")
    if failed:
        raise RuntimeError(f"vacuum refused for {failed}; see the log for why")
    return rows

"""Maintenance: compact, checkpoint, vacuum and clean the log of every lake table; abort stale uploads. Nightly.

Ingest's small commits pile up small files and log entries; this keeps their number bounded.
Deleted files are gone for good, so vacuum keeps every file a version registered models need
(the feature versions they were trained on, and the bronze versions behind those), and is
refused if delta-rs plans otherwise. One table's failure does not stop the others; the run fails
at the end, naming them. See :mod:`featurelake.operate.maintenance` for the steps.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact

from featurelake.core import catalog
from featurelake.operate.maintenance import MaintenanceOptions, TableReport, failed_tables, maintain_lake
from featurelake.settings import get_settings


@flow(name="maintain", log_prints=True)
def maintain(
    retain_hours: float = 168.0,
    target_file_mb: float = 128.0,
    min_small_files: int = 16,
    dry_run: bool = False,
    allow_short_retention: bool = False,
    abort_uploads_after_hours: float | None = 24.0,
) -> list[dict[str, object]]:
    """Compact, checkpoint, vacuum and clean the log of every table of the lake; abort stale uploads.

    Partitions holding ``min_small_files`` or more files under ``target_file_mb`` are compacted;
    files removed over ``retain_hours`` ago are vacuumed unless a registered model needs them.
    ``dry_run`` reports what would be compacted and deleted and changes nothing.
    ``allow_short_retention`` permits less than a table's minimum retention (7 days): only when
    no job is reading an older snapshot, since its files may go. Incomplete multipart uploads in
    the raw and lake buckets idle for over ``abort_uploads_after_hours`` are aborted (None: kept).
    """
    settings, logger = get_settings(), get_run_logger()
    options = MaintenanceOptions.from_parameters(
        retain_hours=retain_hours,
        target_file_mb=target_file_mb,
        min_small_files=min_small_files,
        dry_run=dry_run,
        allow_short_retention=allow_short_retention,
        abort_uploads_after_hours=abort_uploads_after_hours,
    )
    progress: Any = create_progress_artifact(0.0, key="maintenance-progress", description="Tables maintained (%)")

    def done(report: TableReport, count: int, total: int) -> None:
        (logger.error if report.error else logger.info)(report.summary())
        update_progress_artifact(progress, 100.0 * count / total)

    reports = maintain_lake(settings, catalog.load(settings.features_module), options, on_table=done)
    rows = [report.as_row() for report in reports]
    create_table_artifact(table=rows, key="maintenance", description=f"Lake maintenance (dry run: {dry_run})")
    if failed := failed_tables(reports):
        raise RuntimeError(f"maintenance failed for {failed}; the log and the 'maintenance' artifact say why")
    return rows

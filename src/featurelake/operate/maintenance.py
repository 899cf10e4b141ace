"""Table maintenance for the whole lake: compact, checkpoint, vacuum and clean the log of every table.

Ingest commits once per batch of raw objects to bronze, quarantine and the ingest log, each
commit adding a small file; left alone, reads slow down with the number of files and log
entries. Every table that exists gets, in this order:

1. **compact**: partitions holding ``min_small_files`` or more files below the target size are
   rewritten into files of about that size (same rows, one commit, marked as changing no data);
2. **checkpoint**: the latest version, so readers replay one file instead of every commit;
3. **vacuum**: files removed longer than the retention ago are deleted, except those of versions
   registered models need (their feature versions, and the bronze versions behind them);
4. **log cleanup**: expired log entries go, but never those the oldest protected version needs
   to load (and writers are told to stop cleaning the log of tables with protected versions).

Then, per bucket of an S3 lake (raw and lake), incomplete multipart uploads idle for longer than
the threshold are aborted (:mod:`featurelake.operate.uploads`), each bucket one row of the report.

A compaction or vacuum that loses a commit race to an ingest is reported and tried again next run. A bronze
table whose latest ingest has not been announced yet gets no commit at all: the ingest's next
run finds that landing by looking at the latest bronze commit. One table's failure stops only
that table's remaining steps; the caller decides what to do with the reports.
"""

from __future__ import annotations

from collections.abc import Callable

from featurelake.core.catalog import Catalog
from featurelake.io.delta.store import DeltaStore
from featurelake.operate.maintenance_plan import (
    DEFAULT_MIN_SMALL_FILES,
    DEFAULT_TARGET_SIZE,
    LakeTable,
    MaintenanceOptions,
    TableReport,
    lake_tables,
)
from featurelake.operate.maintenance_steps import maintain_table
from featurelake.operate.pins import ModelPins, model_pins
from featurelake.operate.uploads import maintain_uploads, upload_buckets
from featurelake.settings import Settings

__all__ = [
    "DEFAULT_MIN_SMALL_FILES",
    "DEFAULT_TARGET_SIZE",
    "LakeTable",
    "MaintenanceOptions",
    "TableReport",
    "failed_tables",
    "lake_tables",
    "maintain_lake",
    "maintain_table",
]


def maintain_lake(
    settings: Settings,
    found: Catalog,
    options: MaintenanceOptions,
    on_table: Callable[[TableReport, int, int], None] | None = None,
) -> list[TableReport]:
    """Maintain every table of the lake, then its buckets' uploads, reading the registry's pins once.

    Never raises for one table or bucket. ``on_table(report, done, total)`` is called after each
    (progress, logging). When the registry cannot be read, every table is still compacted and
    checkpointed, and the tables models can pin report an error instead of being vacuumed.
    """
    store = DeltaStore(settings)
    pins, pins_error = _read_pins(settings, store, found)
    tables = lake_tables(store, found)
    buckets = upload_buckets(settings) if options.abort_uploads_after is not None else []
    reports: list[TableReport] = []

    def done(report: TableReport) -> None:
        reports.append(report)
        if on_table is not None:
            on_table(report, len(reports), len(tables) + len(buckets))

    for table in tables:
        done(maintain_table(store, table, pins, options, pins_error))
    for bucket, prefix in buckets:
        done(maintain_uploads(settings, bucket, prefix, options))
    return reports


def _read_pins(settings: Settings, store: DeltaStore, found: Catalog) -> tuple[ModelPins | None, str | None]:
    """The registry's pins, or None and why: a registry that is down must not stop compaction."""
    try:
        return model_pins(settings, store, found), None
    except Exception as error:  # the registry is down: nothing that needs it may be deleted
        return None, f"{type(error).__name__}: {error}"


def failed_tables(reports: list[TableReport]) -> list[str]:
    """The tables (and buckets) whose maintenance stopped on an error: a run with any must fail, naming them."""
    return [report.table for report in reports if report.error]

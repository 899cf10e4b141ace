"""One table's maintenance: compact, checkpoint, vacuum and clean the log, in that order.

A step that loses a commit race to an ingest notes it and leaves the work to the next run; a
bronze table whose latest ingest is not announced yet gets no commit at all (the ingest's next
run finds that landing by looking at the latest bronze commit). A failing step ends the table's
run and is reported on it; the lake-wide run (:mod:`featurelake.operate.maintenance`) goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from featurelake.core import commits
from featurelake.ingest.announcements import unannounced_landing
from featurelake.io.delta import maintenance
from featurelake.io.delta.store import DeltaStore
from featurelake.io.revision import code_revision
from featurelake.operate.maintenance_plan import LakeTable, MaintenanceOptions, TableReport
from featurelake.operate.pins import ModelPins
from featurelake.operate.vacuum import vacuum_table


@dataclass(frozen=True)
class _Run:
    """Everything one table's steps share."""

    store: DeltaStore
    table: LakeTable
    pins: ModelPins | None
    pins_error: str | None
    options: MaintenanceOptions
    report: TableReport


def maintain_table(
    store: DeltaStore,
    table: LakeTable,
    pins: ModelPins | None,
    options: MaintenanceOptions,
    pins_error: str | None = None,
) -> TableReport:
    """Compact, checkpoint, vacuum and clean the log of one table; a failing step ends the table's run.

    ``pins`` is None when the registry could not be read (``pins_error`` says why): tables whose
    versions models can pin are then compacted and checkpointed, never vacuumed.
    """
    before = store.existing(table.path)
    stats = maintenance.file_stats(before)
    report = TableReport(table.path, table.kind, before.version(), stats.files, stats.bytes)
    run = _Run(store, table, pins, pins_error, options, report)
    for name, step in _STEPS:
        try:
            step(run)
        except Exception as error:  # reported per table: the other tables still get their maintenance
            report.error = f"{name}: {error}"
            break
    after = store.existing(table.path)
    stats = maintenance.file_stats(after)
    report.version_after, report.files_after, report.bytes_after = after.version(), stats.files, stats.bytes
    return report


def _held(run: _Run) -> bool:
    """True (with a note) for a bronze table whose latest ingest still waits for its announcement."""
    if run.table.kind != "bronze" or run.table.source is None:
        return False
    landing = unannounced_landing(run.store, run.table.source)
    if landing is None:
        return False
    note = f"bronze version {landing.bronze_version} is not announced yet: no commit until ingest announces it"
    if note not in run.report.notes:
        run.report.notes.append(note)
    return True


def _compact(run: _Run) -> None:
    """Rewrite crowded partitions' small files into files of about the target size (no data change)."""
    table, options = run.store.existing(run.table.path), run.options
    crowded = maintenance.small_file_partitions(table, options.target_size, options.min_small_files)
    if not crowded or _held(run):
        return
    if options.dry_run:
        run.report.compacted = sum(count for _, count in crowded)
        return
    metadata = _metadata(run, commits.Operation.COMPACT)
    for partition, _ in crowded:
        try:
            metrics = maintenance.compact(table, options.target_size, partition, metadata)
        except maintenance.LostCommitRaceError as lost:
            run.report.notes.append(str(lost))
            return
        run.report.compacted += int(metrics.get("numFilesRemoved", 0))


def _checkpoint(run: _Run) -> None:
    """Checkpoint the latest version, so readers replay one file instead of every commit."""
    if not run.options.dry_run:
        run.report.checkpoint = maintenance.checkpoint(run.store.existing(run.table.path))


def _protected(run: _Run) -> tuple[frozenset[int], tuple[str, ...]]:
    """The versions models need of this table, and why some are unknown (bronze only).

    Raises:
        RuntimeError: when the registry could not be read and this table's versions can be pinned.
    """
    table = run.table
    if table.kind not in ("features", "bronze"):
        return frozenset(), ()
    if run.pins is None:
        raise RuntimeError(
            f"the model registry could not be read ({run.pins_error}); the versions models need are unknown, "
            "so nothing was deleted: fix the registry connection (FEATURELAKE_MLFLOW_TRACKING_URI)"
        )
    if table.spec is not None:
        return run.pins.features.get(table.spec.ref, frozenset()), ()
    source = table.source or ""
    return run.pins.bronze.get(source, frozenset()), run.pins.unresolved.get(source, ())


def _vacuum(run: _Run) -> None:
    """Delete files removed longer than the retention ago, except those protected versions read."""
    protected, unresolved = _protected(run)
    run.report.protected_versions = tuple(sorted(protected))
    if unresolved:
        run.report.notes.append(f"not vacuumed, the bronze versions behind these pins are unknown: {list(unresolved)}")
        return
    if _held(run):
        return
    name = run.table.spec.ref if run.table.spec is not None and run.table.kind == "features" else run.table.path
    options = run.options
    try:
        result = vacuum_table(
            run.store,
            run.table.path,
            name,
            set(protected),
            options.retention,
            dry_run=options.dry_run,
            allow_short_retention=options.allow_short_retention,
            metadata=_metadata(run, commits.Operation.VACUUM),
        )
    except maintenance.LostCommitRaceError as lost:
        run.report.notes.append(str(lost))
        return
    run.report.removed, run.report.kept_for_models = len(result.removed), len(result.kept)


def _clean_log(run: _Run) -> None:
    """Drop expired log entries, keeping every entry the oldest protected version needs to load."""
    protected, unresolved = _protected(run)
    if run.options.dry_run or unresolved:
        return
    latest = run.store.existing(run.table.path)
    keep_from = min((v for v in protected if v <= latest.version()), default=latest.version())
    if keep_from < latest.version() and maintenance.writers_clean_log(latest) and not _held(run):
        try:
            maintenance.stop_writer_log_cleanup(latest, _metadata(run, commits.Operation.KEEP_LOG))
        except maintenance.LostCommitRaceError as lost:  # this cleanup still keeps the pinned versions
            run.report.notes.append(str(lost))
    maintenance.cleanup_log(run.store.existing(run.table.path, keep_from))
    run.report.log_kept_from = keep_from


def _metadata(run: _Run, operation: str) -> dict[str, str]:
    """The audit of a maintenance commit: what, by whom, with which code, on which feature set."""
    metadata = {
        commits.OPERATION: operation,
        commits.ACTOR: run.options.actor,
        commits.CODE_REVISION: code_revision(),
    }
    if run.table.spec is not None and run.table.kind == "features":
        metadata[commits.FEATURE_SET] = run.table.spec.ref
    return metadata


_STEPS: tuple[tuple[str, Callable[[_Run], None]], ...] = (
    ("compact", _compact),
    ("checkpoint", _checkpoint),
    ("vacuum", _vacuum),
    ("log cleanup", _clean_log),
)

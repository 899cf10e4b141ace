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

A compaction or vacuum that loses a commit race to an ingest is reported and tried again next run. A bronze
table whose latest ingest has not been announced yet gets no commit at all: the ingest's next
run finds that landing by looking at the latest bronze commit. One table's failure stops only
that table's remaining steps; the caller decides what to do with the reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from featurelake.core import commits
from featurelake.core.catalog import Catalog
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path, feature_quarantine_path, quarantine_path
from featurelake.ingest.announcements import unannounced_landing
from featurelake.ingest.bronze import ingest_log_path
from featurelake.io.delta import maintenance
from featurelake.io.delta.store import DeltaStore
from featurelake.io.revision import code_revision
from featurelake.operate.pins import ModelPins, model_pins
from featurelake.operate.vacuum import vacuum_table
from featurelake.settings import Settings

DEFAULT_TARGET_SIZE = 128 * 2**20
DEFAULT_MIN_SMALL_FILES = 16


@dataclass(frozen=True)
class LakeTable:
    """One Delta table of the lake, what kind it is, and the source or feature set it belongs to."""

    kind: str
    path: str
    source: str | None = None
    spec: FeatureSet | None = None


@dataclass(frozen=True)
class MaintenanceOptions:
    """How far maintenance goes: retention, target file size, and whether it only reports."""

    retention: timedelta = timedelta(days=7)
    target_size: int = DEFAULT_TARGET_SIZE
    min_small_files: int = DEFAULT_MIN_SMALL_FILES
    dry_run: bool = False
    allow_short_retention: bool = False
    actor: str = "maintain"

    @classmethod
    def from_parameters(
        cls,
        *,
        retain_hours: float,
        target_file_mb: float,
        min_small_files: int,
        dry_run: bool,
        allow_short_retention: bool,
        actor: str = "maintain",
    ) -> MaintenanceOptions:
        """The options from the units people type (hours, MiB): what the flow and the CLI both take."""
        return cls(
            retention=timedelta(hours=retain_hours),
            target_size=int(target_file_mb * 2**20),
            min_small_files=min_small_files,
            dry_run=dry_run,
            allow_short_retention=allow_short_retention,
            actor=actor,
        )


@dataclass
class TableReport:
    """What maintenance did to one table (in a dry run: what it would do)."""

    table: str
    kind: str
    version_before: int
    files_before: int
    bytes_before: int
    version_after: int = -1
    files_after: int = -1
    bytes_after: int = -1
    #: Small files rewritten by compaction (in a dry run: that would be).
    compacted: int = 0
    checkpoint: int | None = None
    #: Files the vacuum deleted (in a dry run: would delete).
    removed: int = 0
    #: Files old enough to delete, kept because a protected version reads them.
    kept_for_models: int = 0
    protected_versions: tuple[int, ...] = ()
    #: The log was cleaned up to the newest expired checkpoint at or before this version.
    log_kept_from: int | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_row(self) -> dict[str, object]:
        """One row of the maintenance artifact and the CLI's table."""
        return {
            "table": self.table,
            "kind": self.kind,
            "files": f"{self.files_before} → {self.files_after}",
            "MiB": f"{self.bytes_before / 2**20:.1f} → {self.bytes_after / 2**20:.1f}",
            "versions": f"{self.version_before} → {self.version_after}",
            "compacted": self.compacted,
            "removed": self.removed,
            "kept_for_models": self.kept_for_models,
            "protected_versions": ",".join(map(str, self.protected_versions)),
            "checkpoint": "" if self.checkpoint is None else self.checkpoint,
            "log_kept_from": "" if self.log_kept_from is None else self.log_kept_from,
            "notes": "; ".join(self.notes),
            "error": self.error or "",
        }


@dataclass(frozen=True)
class _Run:
    """Everything one table's steps share."""

    store: DeltaStore
    table: LakeTable
    pins: ModelPins | None
    pins_error: str | None
    options: MaintenanceOptions
    report: TableReport


def lake_tables(store: DeltaStore, found: Catalog) -> list[LakeTable]:
    """Every table of the lake that exists.

    Per raw source: bronze, quarantine and the ingest log; per feature set: its table and its quarantine.
    """
    candidates: list[LakeTable] = []
    for name in sorted(found.sources):
        candidates += [
            LakeTable("bronze", bronze_path(name), source=name),
            LakeTable("quarantine", quarantine_path(name), source=name),
            LakeTable("ingest-log", ingest_log_path(name), source=name),
        ]
    for _, spec in sorted(found.feature_sets.items()):
        candidates += [
            LakeTable("features", spec.table_path, spec=spec),
            LakeTable("feature-quarantine", feature_quarantine_path(spec.name, spec.version), spec=spec),
        ]
    return [table for table in candidates if store.version(table.path) is not None]


def maintain_lake(
    settings: Settings,
    found: Catalog,
    options: MaintenanceOptions,
    on_table: Callable[[TableReport, int, int], None] | None = None,
) -> list[TableReport]:
    """Maintain every table of the lake, reading the registry's pins once; never raises for one table.

    ``on_table(report, done, total)`` is called after each table (progress, logging). When the
    registry cannot be read, every table is still compacted and checkpointed, and the tables
    models can pin report an error instead of being vacuumed.
    """
    store = DeltaStore(settings)
    pins: ModelPins | None = None
    pins_error: str | None = None
    try:
        pins = model_pins(settings, store, found)
    except Exception as error:  # the registry is down: nothing that needs it may be deleted
        pins_error = f"{type(error).__name__}: {error}"
    tables = lake_tables(store, found)
    reports: list[TableReport] = []
    for table in tables:
        reports.append(maintain_table(store, table, pins, options, pins_error))
        if on_table is not None:
            on_table(reports[-1], len(reports), len(tables))
    return reports


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

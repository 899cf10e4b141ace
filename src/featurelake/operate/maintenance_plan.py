"""What lake maintenance works on and what it reports: the lake's tables, the options, one report per table.

The plan is every Delta table that exists: per raw source its bronze table, quarantine and
ingest log; per feature set its table and its feature quarantine. The options say how far the
steps go (:mod:`featurelake.operate.maintenance_steps`); a :class:`TableReport` says what they did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from featurelake.core.catalog import Catalog
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path, feature_quarantine_path, quarantine_path
from featurelake.ingest.bronze import ingest_log_path
from featurelake.io.delta.store import DeltaStore

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
    #: Incomplete multipart uploads idle (no part written) for longer are aborted (None: left alone).
    abort_uploads_after: timedelta | None = timedelta(hours=24)

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
        abort_uploads_after_hours: float | None = 24.0,
    ) -> MaintenanceOptions:
        """The options from the units people type (hours, MiB): what the flow and the CLI both take."""
        uploads = None if abort_uploads_after_hours is None else timedelta(hours=abort_uploads_after_hours)
        return cls(
            retention=timedelta(hours=retain_hours),
            target_size=int(target_file_mb * 2**20),
            min_small_files=min_small_files,
            dry_run=dry_run,
            allow_short_retention=allow_short_retention,
            actor=actor,
            abort_uploads_after=uploads,
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

    def summary(self) -> str:
        """One log line: the error, or files before → after, files removed and the notes."""
        if self.error:
            return f"{self.table}: {self.error}"
        row = self.as_row()
        return f"{self.table}: files {row['files']}, removed {self.removed}, notes: {row['notes']}"


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

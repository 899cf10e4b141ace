"""``featurelake`` commands for operating feature tables: history, rollback, vacuum, and lake maintenance.

Thin shells over :mod:`featurelake.operate` (history, rollback, vacuum, maintenance). Errors a user
can meet (a bad reference, a version the table does not have, a retention below the table's
minimum) exit 1 with the message.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import typer

from featurelake.cli.features import FEATURES_MODULE, guarded

if TYPE_CHECKING:
    from featurelake.core.featureset import FeatureSet
    from featurelake.io.delta.store import DeltaStore
    from featurelake.operate.maintenance import TableReport
    from featurelake.operate.rollback import RollbackResult
    from featurelake.operate.vacuum import VacuumResult
    from featurelake.settings import Settings

REF = typer.Argument(..., help="Feature set, e.g. customer_txn:v1.")
#: History columns: (header, row key, width); long hashes are cut to their first characters.
_COLUMNS = (
    ("version", "version", 7),
    ("time (UTC)", "timestamp", 19),
    ("operation", "operation", 14),
    ("action", "action", 15),
    ("+rows", "rows_added", 7),
    ("-rows", "rows_removed", 7),
    ("revision", "code_revision", 18),
    ("fingerprint", "fingerprint", 12),
    ("suite", "suite_hash", 12),
    ("who", "who", 45),
    ("note", "note", 0),
)


def _context(ref: str, features_module: str | None) -> tuple[Settings, DeltaStore, FeatureSet]:
    from featurelake.core import catalog
    from featurelake.core.refs import FeatureRef
    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import get_settings

    settings = get_settings()
    parsed = guarded(lambda: FeatureRef.parse(ref))
    found = catalog.load(features_module or settings.features_module)
    spec = guarded(lambda: found.get(parsed.name, parsed.version))
    return settings, DeltaStore(settings), spec


def actor() -> str:
    """Who runs the command: ``FEATURELAKE_ACTOR`` (set it in CI or a shared account), else the OS user."""
    import getpass

    return os.environ.get("FEATURELAKE_ACTOR") or f"cli/{getpass.getuser()}"


def history(
    ref: str = REF,
    limit: int = typer.Option(20, help="Newest commits to show (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per commit, for scripts and SIEMs."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """The audit trail of a feature table: every Delta commit, who made it, from which code, and why."""
    from featurelake.operate.history import feature_history

    _, store, spec = _context(ref, features_module)
    rows = feature_history(store, spec, limit or None)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"{spec.ref} has no table at {store.uri(spec.table_path)} yet; build or backfill it first")
        return
    typer.echo(f"{spec.ref} ({store.uri(spec.table_path)}), newest first:")
    typer.echo(render_history(rows))


def render_history(rows: list[dict[str, Any]]) -> str:
    """History rows as an aligned table a person reads in a terminal or a CI log."""
    lines = ["  ".join(header.ljust(width) for header, _, width in _COLUMNS).rstrip()]
    for row in rows:
        cells = {**row, "who": _who(row), "note": _note(row), "timestamp": str(row["timestamp"])[:19]}
        lines.append("  ".join(_cell(cells.get(key), width) for _, key, width in _COLUMNS).rstrip())
    return "\n".join(lines)


def _cell(value: Any, width: int) -> str:
    text = "-" if value is None else str(value)
    return text if width == 0 else text[:width].ljust(width)


def _who(row: dict[str, Any]) -> str | None:
    """The person or flow run behind a commit, with the deployment when one started the run."""
    who = row.get("actor") or (f"flow-run/{row['flow_run_id']}" if row.get("flow_run_id") else None)
    if who and row.get("deployment"):
        return f"{who} ({row['deployment']})"
    return who


def _note(row: dict[str, Any]) -> str:
    parts = []
    if row.get("restored_to") is not None:
        parts.append(f"restored to {row['restored_to']}")
    if row.get("reason"):
        parts.append(f"reason: {row['reason']}")
    if row.get("bronze_version") is not None:
        parts.append(f"bronze {row['bronze_version']}")
    if row.get("days"):
        parts.append(f"days {row['days']}")
    return "; ".join(parts)


def rollback(
    ref: str = REF,
    to_version: int = typer.Option(..., "--to-version", help="The Delta version to make current again."),
    reason: str = typer.Option(..., "--reason", help="Why: recorded in the commit and the event."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Restore a feature table to an earlier Delta version (a new, audited commit) and announce it."""
    from featurelake.operate.rollback import rollback as run_rollback

    settings, store, spec = _context(ref, features_module)
    result = guarded(lambda: run_rollback(store, spec, to_version, actor=actor(), reason=reason))
    typer.echo(
        f"{result.feature_set}: version {result.previous_version} → {result.new_version} "
        f"(content of version {result.restored_to}; {result.files_restored} file(s) restored, "
        f"{result.files_removed} removed) by {result.actor}"
    )
    if result.dropped_constraints:
        typer.secho(
            f"warning: version {result.restored_to} predates CHECK constraint(s) {list(result.dropped_constraints)}; "
            "the restored table does not enforce them until a build adds them back",
            err=True,
            fg=typer.colors.YELLOW,
        )
    _announce(settings, spec, result)


def _announce(settings: Settings, spec: FeatureSet, result: RollbackResult) -> None:
    """Emit the rolled-back event when a Prefect API is configured; say so when it is not."""
    from featurelake.io.prefect.api import api_configured

    if not api_configured():
        typer.echo("PREFECT_API_URL is not set: no featurelake.feature-set.rolled-back event was emitted")
        return
    from featurelake.operate.rollback import announce_rollback

    event_id = announce_rollback(settings, spec, result)
    typer.echo(f"emitted featurelake.feature-set.rolled-back (event id {event_id})")


def vacuum(
    ref: str = REF,
    retain_hours: float = typer.Option(168.0, help="Keep removed files younger than this (hours)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted; delete nothing."),
    allow_short_retention: bool = typer.Option(
        False,
        "--allow-short-retention",
        help="Allow a retention below the table's minimum (7 days by default): only if no job reads it now.",
    ),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Delete old, unreferenced data files; never those of versions a registered model was trained on."""
    from featurelake.operate.vacuum import vacuum as run_vacuum

    settings, store, spec = _context(ref, features_module)
    retention, short, who = timedelta(hours=retain_hours), allow_short_retention, actor()
    result = guarded(
        lambda: run_vacuum(store, settings, spec, retention, dry_run=dry_run, allow_short_retention=short, actor=who)
    )
    typer.echo(render_vacuum(result))


def render_vacuum(result: VacuumResult) -> str:
    """What a vacuum did (or would do), and which model-pinned versions it protected."""
    verb = "would delete" if result.dry_run else "deleted"
    lines = [
        f"{result.feature_set} ({result.table_uri}), retention {result.retention_hours} h: "
        f"{verb} {len(result.removed)} file(s)",
        f"protected versions (registered models trained on them): {list(result.protected_versions) or 'none'}",
    ]
    if result.kept:
        lines.append(f"kept {len(result.kept)} old file(s) that protected versions read")
    if result.unknown_versions:
        lines.append(f"pinned versions this table does not have (recreated since?): {list(result.unknown_versions)}")
    lines.extend(f"  {verb}: {path}" for path in result.removed)
    return "\n".join(lines)


def maintain(
    retain_hours: float = typer.Option(168.0, help="Vacuum files removed longer ago than this (hours)."),
    target_file_mb: float = typer.Option(128.0, help="Compact small files into files of about this size (MiB)."),
    min_small_files: int = typer.Option(16, help="Compact a partition once it holds this many small files."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would be compacted and deleted; change nothing."
    ),
    allow_short_retention: bool = typer.Option(
        False,
        "--allow-short-retention",
        help="Allow a retention below a table's minimum (7 days by default): only if no job reads the lake now.",
    ),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Compact, checkpoint, vacuum and clean the log of every lake table (what maintain/nightly runs)."""
    from featurelake.core import catalog
    from featurelake.operate.maintenance import MaintenanceOptions, failed_tables, maintain_lake
    from featurelake.settings import get_settings

    settings = get_settings()
    found = guarded(lambda: catalog.load(features_module or settings.features_module))
    options = MaintenanceOptions.from_parameters(
        retain_hours=retain_hours,
        target_file_mb=target_file_mb,
        min_small_files=min_small_files,
        dry_run=dry_run,
        allow_short_retention=allow_short_retention,
        actor=actor(),
    )
    reports = maintain_lake(settings, found, options)
    typer.echo(render_maintenance(reports, dry_run))
    failed = failed_tables(reports)
    if failed:
        typer.secho(f"maintenance failed for {failed} (see error: above)", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


def render_maintenance(reports: list[TableReport], dry_run: bool) -> str:
    """One line per table: files before → after, what was compacted and vacuumed, pins, notes and errors."""
    verb = "would" if dry_run else "did"
    lines = [f"maintenance ({'dry run: nothing changed' if dry_run else 'applied'}), {len(reports)} table(s):"]
    for report in reports:
        row = report.as_row()
        line = (
            f"{report.table}  files {row['files']}  MiB {row['MiB']}  {verb}: compact {report.compacted}, "
            f"delete {report.removed}  kept for models {report.kept_for_models}"
        )
        if report.protected_versions:
            line += f"  protected versions {list(report.protected_versions)}"
        lines.append(line)
        lines.extend(f"    note: {note}" for note in report.notes)
        if report.error:
            lines.append(f"    error: {report.error}")
    if not reports:
        lines.append("  no table exists yet: ingest a source first")
    return "\n".join(lines)

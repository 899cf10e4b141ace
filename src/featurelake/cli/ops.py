"""``featurelake`` commands for operating feature tables: history, rollback, vacuum, and lake maintenance.

Thin shells over :mod:`featurelake.operate` (history, rollback, vacuum, maintenance). Errors a user
can meet (a bad reference, a version the table does not have, a retention below the table's
minimum, an MLflow or Prefect server that does not answer) end the command with one line.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, REF, actor, feature_set, load_catalog, settings
from featurelake.cli.errors import fail

if TYPE_CHECKING:
    from rich.table import Table

    from featurelake.core.featureset import FeatureSet
    from featurelake.io.delta.store import DeltaStore
    from featurelake.operate.maintenance import TableReport
    from featurelake.operate.rollback import RollbackResult
    from featurelake.operate.vacuum import VacuumResult

#: History columns: (header, row key); every value is shown whole.
_COLUMNS = (
    ("version", "version"),
    ("time (UTC)", "timestamp"),
    ("operation", "operation"),
    ("action", "action"),
    ("+rows", "rows_added"),
    ("-rows", "rows_removed"),
    ("revision", "code_revision"),
    ("fingerprint", "fingerprint"),
    ("suite", "suite_hash"),
    ("who", "who"),
    ("note", "note"),
)
RETAIN_HOURS = typer.Option(168.0, min=0, help="Keep files removed less than this long ago (hours).")


def history(
    ref: str = REF,
    limit: int = typer.Option(20, min=0, help="Newest commits to show (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per commit, for scripts and SIEMs."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """The audit trail of a feature table: every Delta commit, who made it, from which code, and why."""
    from featurelake.operate.history import feature_history

    store, spec = feature_set(ref, features_module)
    rows = feature_history(store, spec, limit or None)
    if as_json:
        output.echo_json(rows)
        return
    if not rows:
        typer.echo(f"{spec.ref} has no table at {store.uri(spec.table_path)} yet; build or backfill it first")
        return
    typer.echo(f"{spec.ref} ({store.uri(spec.table_path)}), newest first:")
    output.show(history_table(rows))


def history_table(rows: list[dict[str, Any]]) -> Table:
    """History rows as an aligned table a person reads in a terminal or a CI log."""
    grid = output.table(*(header for header, _ in _COLUMNS), right=["version", "+rows", "-rows"])
    for row in rows:
        cells = {**row, "who": _who(row), "note": _note(row), "timestamp": str(row["timestamp"])[:19]}
        style = "yellow" if row.get("action") == "rollback" else ""
        grid.add_row(*(output.cell(cells.get(key), style) for _, key in _COLUMNS))
    return grid


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
    to_version: int = typer.Option(..., "--to-version", min=0, help="The Delta version to make current again."),
    reason: str = typer.Option(..., "--reason", help="Why: recorded in the commit and the event."),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Restore a feature table to an earlier Delta version (a new, audited commit) and announce it."""
    from featurelake.cli.reach import prefect_configured
    from featurelake.operate.rollback import rollback as run_rollback

    store, spec = feature_set(ref, features_module)
    announce = prefect_configured(settings())  # before the rollback: a server that is down stops it
    result = run_rollback(store, spec, to_version, actor=actor(), reason=reason)
    event_id = _announce(spec, result) if announce else None
    online = _rematerialize(store, spec, result, announce)
    if as_json:
        output.echo_json({**dataclasses.asdict(result), "event_id": event_id, "online": online})
        return
    typer.echo(
        f"{result.feature_set}: version {result.previous_version} → {result.new_version} "
        f"(content of version {result.restored_to}; {result.files_restored} file(s) restored, "
        f"{result.files_removed} removed) by {result.actor}"
    )
    if result.dropped_constraints:
        output.say(
            f"warning: version {result.restored_to} predates CHECK constraint(s) {list(result.dropped_constraints)}; "
            "the restored table does not enforce them until a build adds them back",
            "yellow",
            stderr=True,
        )
    if event_id is None:
        typer.echo("PREFECT_API_URL is not set: no featurelake.feature-set.rolled-back event was emitted")
    else:
        typer.echo(f"emitted featurelake.feature-set.rolled-back (event id {event_id})")
    if online is not None:
        typer.echo(
            f"online store {online['online_table']} re-materialized from version {result.new_version}: "
            f"{online['items_written']} written, {online['tombstones']} tombstoned"
        )


def _rematerialize(
    store: DeltaStore, spec: FeatureSet, result: RollbackResult, announce: bool
) -> dict[str, Any] | None:
    """When the feature set is served online, serve the restored content there too (and announce it)."""
    from featurelake.io.aws.online_store import OnlineStore
    from featurelake.operate.rollback import rematerialize_online
    from featurelake.serve.announce import announce_materialized

    done = rematerialize_online(store, OnlineStore(settings()), spec, result)
    if done is None:
        return None
    if announce:
        announce_materialized(spec, done.event())
    return dataclasses.asdict(done)


def _announce(spec: FeatureSet, result: RollbackResult) -> str:
    from featurelake.operate.rollback import announce_rollback

    return str(announce_rollback(settings(), spec, result))


def vacuum(
    ref: str = REF,
    retain_hours: float = RETAIN_HOURS,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted; delete nothing."),
    allow_short_retention: bool = typer.Option(
        False,
        "--allow-short-retention",
        help="Allow a retention below the table's minimum (7 days by default): only if no job reads it now.",
    ),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Delete old, unreferenced data files; never those of versions a registered model was trained on."""
    from featurelake.cli.reach import require_mlflow
    from featurelake.operate.vacuum import vacuum as run_vacuum

    store, spec = feature_set(ref, features_module)
    require_mlflow(settings())
    retention, short, who = timedelta(hours=retain_hours), allow_short_retention, actor()
    result = run_vacuum(store, settings(), spec, retention, dry_run=dry_run, allow_short_retention=short, actor=who)
    if as_json:
        output.echo_json(dataclasses.asdict(result))
    else:
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
    retain_hours: float = RETAIN_HOURS,
    target_file_mb: float = typer.Option(
        128.0, min=1.0, help="Compact small files into files of about this size (MiB)."
    ),
    min_small_files: int = typer.Option(16, min=1, help="Compact a partition once it holds this many small files."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would be compacted and deleted; change nothing."
    ),
    allow_short_retention: bool = typer.Option(
        False,
        "--allow-short-retention",
        help="Allow a retention below a table's minimum (7 days by default): only if no job reads the lake now.",
    ),
    abort_uploads_after_hours: float = typer.Option(
        24.0, min=0.0, help="Abort incomplete multipart uploads idle for longer than this (hours)."
    ),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Compact, checkpoint, vacuum and clean the log of every lake table; abort stale multipart uploads."""
    from featurelake.cli.reach import require_lake, require_mlflow
    from featurelake.operate.maintenance import MaintenanceOptions, failed_tables, maintain_lake

    found = load_catalog(features_module)
    require_lake(settings())
    require_mlflow(settings())
    options = MaintenanceOptions.from_parameters(
        retain_hours=retain_hours,
        target_file_mb=target_file_mb,
        min_small_files=min_small_files,
        dry_run=dry_run,
        allow_short_retention=allow_short_retention,
        actor=actor(),
        abort_uploads_after_hours=abort_uploads_after_hours,
    )
    reports = maintain_lake(settings(), found, options)
    if as_json:
        output.echo_json([r.as_row() for r in reports])
    else:
        done = "dry run: nothing changed" if dry_run else "applied"
        typer.echo(f"maintenance ({done}), {len(reports)} table(s) and bucket(s):")
        output.show(maintenance_table(reports, dry_run))
    failed = failed_tables(reports)
    if failed:
        fail(f"maintenance failed for {failed}; the error of each is in its notes")


def maintenance_table(reports: list[TableReport], dry_run: bool) -> Table | str:
    """One row per table: files before → after, what was compacted and vacuumed, pins, notes and errors."""
    if not reports:
        return "  no table exists yet: ingest a source first"
    verb = "would" if dry_run else "did"
    grid = output.table("table", "files", "MiB", verb, "kept for models", "protected versions", "notes")
    for report in reports:
        row = report.as_row()
        notes = "; ".join([*report.notes, *([f"error: {report.error}"] if report.error else [])])
        if report.kind == "uploads":  # a bucket's incomplete multipart uploads, not a table
            action = f"abort {report.removed} incomplete multipart upload(s) of {row['files']}"
            blank = output.cell(None)
            grid.add_row(
                output.cell(report.table), blank, blank, output.cell(action), blank, blank, output.cell(notes or None)
            )
            continue
        grid.add_row(
            output.cell(report.table, "red" if report.error else ""),
            output.cell(row["files"]),
            output.cell(row["MiB"]),
            output.cell(f"compact {report.compacted}, delete {report.removed}"),
            output.cell(report.kept_for_models),
            output.cell(row["protected_versions"] or None),
            output.cell(notes or None, "red" if report.error else ""),
        )
    return grid

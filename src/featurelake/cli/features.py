"""``featurelake`` commands for the registry and the tables' contents: plan, apply, list, backfill.

Each command is a thin shell over the library, so the CLI and notebooks behave alike. Errors a
user can meet (bad references, unbumped changes, missing tables) end the command with one line
through the app's error path (:mod:`featurelake.cli.errors`). The library is imported inside the
commands: ``featurelake --help`` and the commands that need neither Delta nor polars should not pay
for them. The reading commands (read, training-set, lookup) are in :mod:`featurelake.cli.retrieve`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, REF, actor, feature_store, lake, settings

if TYPE_CHECKING:
    from rich.table import Table

    from featurelake.core.plan import Plan

__all__ = ["apply", "backfill", "list_feature_sets", "plan", "plan_table"]

_STATUS_STYLES: dict[object, str] = {"active": "green", "retired": "yellow"}
_LIST_COLUMNS = ("name", "version", "status", "fingerprint", "owner", "created_at", "code_revision", "description")


def plan_table(result: Plan) -> Table:
    """The plan as a table a reviewer reads in a terminal or a CI log: one row per feature set version."""
    from featurelake.core.plan import ChangeKind

    # How each kind of change is marked and coloured; every other kind adds something.
    marks = {
        ChangeKind.CHANGED_WITHOUT_BUMP: ("!", "red"),
        ChangeKind.REMOVED: ("-", "yellow"),
        ChangeKind.UNCHANGED: (" ", "dim"),
    }
    grid = output.table("", "feature set", "change", "detail")
    for change in result.changes:
        mark, style = marks.get(change.kind, ("+", "green"))
        kind = output.cell(change.kind.value, style)
        grid.add_row(output.cell(mark, style), output.cell(change.ref), kind, output.cell(change.detail))
    return grid


def plan_verdict(result: Plan) -> tuple[str, str]:
    """The plan's last line and its colour."""
    if result.errors:
        return f"{len(result.errors)} feature set version(s) changed without a version bump: refusing.", "red"
    if result.pending:
        return f"{len(result.pending)} change(s) to record; run `featurelake apply`.", "yellow"
    return "The registry matches the code.", "green"


def _changes(result: Plan) -> list[dict[str, str]]:
    return [{"ref": c.ref, "kind": c.kind.value, "detail": c.detail} for c in result.changes]


def _show_plan(result: Plan) -> None:
    output.show(plan_table(result))
    output.say(*plan_verdict(result))


def plan(features_module: str | None = FEATURES_MODULE, as_json: bool = JSON) -> None:
    """Compare feature sets in code with the registry; exit 1 on a change without a version bump."""
    from featurelake.io.delta.registry import FeatureRegistry
    from featurelake.io.revision import code_revision

    store, found = lake(features_module)
    result = FeatureRegistry(store).plan(list(found.feature_sets.values()), code_revision())
    if as_json:
        output.echo_json(_changes(result))
    else:
        _show_plan(result)
    raise typer.Exit(1 if result.errors else 0)


def apply(features_module: str | None = FEATURES_MODULE, as_json: bool = JSON) -> None:
    """Record the plan in the registry (refused, with nothing written, when the plan has errors)."""
    from featurelake.io.delta.registry import FeatureRegistry
    from featurelake.io.revision import code_revision

    store, found = lake(features_module)
    registry, revision = FeatureRegistry(store), code_revision()
    result = registry.plan(list(found.feature_sets.values()), revision)
    if not as_json:
        _show_plan(result)
    written = registry.apply(result, revision, actor=actor())
    if as_json:
        output.echo_json({"registry": registry.uri, "recorded": written, "changes": _changes(result)})
    else:
        typer.echo(f"recorded {written} change(s) in {registry.uri}")


def list_feature_sets(as_json: bool = JSON) -> None:
    """Show the registry: every feature set version, its fingerprint, status and origin."""
    from featurelake.cli.reach import require_lake
    from featurelake.io.delta.registry import FeatureRegistry
    from featurelake.io.delta.store import DeltaStore

    require_lake(settings())
    registry = FeatureRegistry(DeltaStore(settings()))
    current = registry.current()
    rows = output.records(current.select(_LIST_COLUMNS)) if not current.is_empty() else []
    if as_json:
        output.echo_json(rows)
    elif not rows:
        typer.echo(f"the registry at {registry.uri} is empty; run `featurelake apply`")
    else:
        output.show(output.frame_table(current.select(_LIST_COLUMNS), {"status": _STATUS_STYLES}))


def backfill(
    ref: str = REF,
    start: datetime = typer.Option(..., formats=["%Y-%m-%d"], help="First day to rebuild (UTC), e.g. 2026-11-01."),
    end: datetime = typer.Option(..., formats=["%Y-%m-%d"], help="Last day to rebuild (UTC), inclusive."),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Recompute, validate and replace the days START..END of a feature table; other days are untouched."""
    from featurelake.build.backfill import backfill as run_backfill
    from featurelake.core import commits
    from featurelake.io.revision import code_revision

    store, api = feature_store(features_module)
    spec = api.spec(ref)
    audit = {commits.ACTOR: actor(), commits.CODE_REVISION: code_revision()}
    engine = settings().validation_engine
    result = run_backfill(store, spec, start.date(), end.date(), audit, validation_engine=engine)
    if as_json:
        output.echo_json(dataclasses.asdict(result))
        return
    typer.echo(
        f"{result.feature_set}: rebuilt {result.start}..{result.end} ({result.rows} rows from {result.source_rows} "
        f"source rows at bronze version {result.bronze_version}) as Delta version {result.delta_version}"
    )

"""``featurelake`` commands for feature sets: plan, apply, list, backfill, read, training-set, lookup.

Each command is a thin shell over the Python API, so the CLI and notebooks behave alike. Errors a
user can meet (bad references, unbumped changes, missing tables) exit non-zero with the message,
not a traceback. The library is imported inside the commands: ``featurelake --help`` and the
commands that need neither Delta nor polars should not pay for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from featurelake.core import commits

if TYPE_CHECKING:
    from featurelake.core import catalog
    from featurelake.core.plan import Plan
    from featurelake.io.delta.store import DeltaStore
    from featurelake.retrieve.featurestore import FeatureStore

T = TypeVar("T")
FEATURES_MODULE = typer.Option(None, "--features-module", help="Package holding the feature sets (default: settings).")


def _context(features_module: str | None) -> tuple[DeltaStore, catalog.Catalog]:
    from featurelake.core import catalog
    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import get_settings

    settings = get_settings()
    return DeltaStore(settings), catalog.discover(features_module or settings.features_module)


def _feature_store(features_module: str | None) -> tuple[DeltaStore, FeatureStore]:
    from featurelake.retrieve.featurestore import FeatureStore  # pyarrow.dataset: seconds, only for commands that read

    store, found = _context(features_module)
    return store, FeatureStore(store, found.feature_sets.values())


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; turn the errors users cause into a message and exit code 1."""
    try:
        return action()
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and not _user_error(error):
            raise
        typer.secho(f"error: {error.args[0] if error.args else error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error


def _user_error(error: RuntimeError) -> bool:
    """A registry mismatch or a failed gate: errors users cause (imported here, only when one occurred)."""
    from featurelake.io.delta.registry import RegistryMismatchError
    from featurelake.validate.gate import ValidationFailedError

    return isinstance(error, RegistryMismatchError | ValidationFailedError)


def render_plan(plan: Plan) -> str:
    """The plan as lines a reviewer reads in a CI log."""
    from featurelake.core.plan import ChangeKind

    marks = {ChangeKind.CHANGED_WITHOUT_BUMP: "!", ChangeKind.REMOVED: "-", ChangeKind.UNCHANGED: " "}
    lines = [f"{marks.get(c.kind, '+')} {c.ref:<28} {c.kind.value:<30} {c.detail}" for c in plan.changes]
    if plan.errors:
        lines.append(f"\n{len(plan.errors)} feature set version(s) changed without a version bump: refusing.")
    elif plan.pending:
        lines.append(f"\n{len(plan.pending)} change(s) to record; run `featurelake apply`.")
    else:
        lines.append("\nThe registry matches the code.")
    return "\n".join(lines)


def plan(features_module: str | None = FEATURES_MODULE, as_json: bool = typer.Option(False, "--json")) -> None:
    """Compare feature sets in code with the registry; exit 1 on a change without a version bump."""
    from featurelake.io.delta.registry import FeatureRegistry
    from featurelake.io.revision import code_revision

    store, found = _context(features_module)
    result = guarded(lambda: FeatureRegistry(store).plan(list(found.feature_sets.values()), code_revision()))
    if as_json:
        typer.echo(json.dumps([{"ref": c.ref, "kind": c.kind.value, "detail": c.detail} for c in result.changes]))
    else:
        typer.echo(render_plan(result))
    raise typer.Exit(1 if result.errors else 0)


def apply(features_module: str | None = FEATURES_MODULE) -> None:
    """Record the plan in the registry (refused, with nothing written, when the plan has errors)."""
    from featurelake.io.delta.registry import FeatureRegistry
    from featurelake.io.revision import code_revision

    store, found = _context(features_module)
    registry, revision = FeatureRegistry(store), code_revision()
    result = guarded(lambda: registry.plan(list(found.feature_sets.values()), revision))
    typer.echo(render_plan(result))
    written = guarded(lambda: registry.apply(result, revision, actor=_actor()))
    typer.echo(f"recorded {written} change(s) in {registry.uri}")


def list_feature_sets() -> None:
    """Show the registry: every feature set version, its fingerprint, status and origin."""
    import polars as pl

    from featurelake.io.delta.registry import FeatureRegistry
    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import get_settings

    registry = FeatureRegistry(DeltaStore(get_settings()))
    current = registry.current()
    if current.is_empty():
        typer.echo(f"the registry at {registry.uri} is empty; run `featurelake apply`")
        return
    columns = ["name", "version", "status", "fingerprint", "owner", "created_at", "code_revision", "description"]
    with pl.Config(tbl_rows=-1, fmt_str_lengths=60, tbl_width_chars=200):
        typer.echo(current.select(columns))


def backfill(
    ref: str = typer.Argument(..., help="Feature set, e.g. customer_txn:v1."),
    start: datetime = typer.Option(..., formats=["%Y-%m-%d"], help="First day to rebuild (UTC)."),
    end: datetime = typer.Option(..., formats=["%Y-%m-%d"], help="Last day to rebuild (UTC), inclusive."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Recompute, validate and replace the days START..END of a feature table; other days are untouched."""
    from featurelake.build.backfill import backfill as run_backfill
    from featurelake.io.revision import code_revision
    from featurelake.settings import get_settings

    store, api = _feature_store(features_module)
    spec = guarded(lambda: api.spec(ref))
    audit = {commits.ACTOR: _actor(), commits.CODE_REVISION: code_revision()}
    engine = get_settings().validation_engine
    result = guarded(lambda: run_backfill(store, spec, start.date(), end.date(), audit, validation_engine=engine))
    typer.echo(
        f"{result.feature_set}: rebuilt {result.start}..{result.end} ({result.rows} rows from {result.source_rows} "
        f"source rows at bronze version {result.bronze_version}) as Delta version {result.delta_version}"
    )


def read(
    ref: str = typer.Argument(..., help="Feature set, e.g. customer_txn:v1."),
    version: int | None = typer.Option(None, "--version", help="Delta version to read."),
    as_of: datetime | None = typer.Option(None, "--as-of", help="Read the table as it was at this UTC time."),
    limit: int = typer.Option(10, help="Rows to show."),
    out: Path | None = typer.Option(None, help="Write all rows to this parquet file."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Read a feature table at a Delta version or a point in time (time travel)."""
    _, api = _feature_store(features_module)
    when = _utc(as_of)
    table = guarded(lambda: api.read(ref, delta_version=version, as_of=when))
    typer.echo(
        f"{table.spec.ref} at Delta version {table.delta_version} ({table.table_uri}): {table.frame.height} rows"
    )
    typer.echo(table.frame.head(limit))
    if out is not None:
        table.frame.write_parquet(out)
        typer.echo(f"wrote {out}")


def training_set(
    spine: Path = typer.Option(..., help="Parquet file: entity keys, a UTC time column, labels."),
    feature: list[str] = typer.Option(..., "--feature", "-f", help="Reference, repeatable: name:vN[:feature]."),
    out: Path = typer.Option(..., help="Where to write the training set (parquet)."),
    spine_time: str = typer.Option("event_time", help="The spine's time column."),
    pin: list[str] = typer.Option([], help="Pin a table: name:vN=DELTA_VERSION (repeatable)."),
    full_names: bool = typer.Option(False, "--full-names", help="Name columns <set>__v<N>__<feature>."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Build a point-in-time correct training set; write it and its manifest (<out>.manifest.json)."""
    import polars as pl

    _, api = _feature_store(features_module)
    pins = guarded(lambda: _parse_pins(pin))
    frame = pl.read_parquet(spine)
    result = guarded(
        lambda: api.get_training_set(frame, feature, spine_time=spine_time, pins=pins, full_names=full_names)
    )
    result.frame.write_parquet(out)
    manifest_path = out.with_suffix(".manifest.json")
    manifest_path.write_text(json.dumps(result.manifest, indent=2, default=str))
    filled = {c: result.frame.height - result.frame[c].null_count() for c in result.feature_columns}
    typer.echo(f"wrote {out} ({result.frame.height} rows) and {manifest_path}")
    for entry in result.manifest["feature_sets"]:
        typer.echo(f"  {entry['ref']} at Delta version {entry['delta_version']} (fingerprint {entry['fingerprint']})")
    typer.echo(f"  non-null values per feature: {filled}")


def lookup(
    ref: str = typer.Argument(..., help="Feature set or feature, e.g. customer_txn:v1."),
    ids: list[str] = typer.Option(..., "--id", help="Entity id (repeatable); single-key feature sets."),
    version: int | None = typer.Option(None, "--version", help="Delta version to read."),
    as_of: datetime | None = typer.Option(None, "--as-of", help="Values as of this UTC time, nulled past the TTL."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """The latest feature values of some entities at a pinned (default: latest) Delta version."""
    import polars as pl

    _, api = _feature_store(features_module)
    spec = guarded(lambda: api.spec(ref))
    if len(spec.entity_keys) != 1:
        typer.secho(f"error: {spec.ref} has keys {list(spec.entity_keys)}; use the Python API", err=True)
        raise typer.Exit(1)
    ids = list(dict.fromkeys(ids))  # one column per entity in the output
    entities = pl.DataFrame({spec.entity_keys[0]: ids}).cast(
        {spec.entity_keys[0]: spec.source.columns[spec.entity_keys[0]]}
    )
    pins = {spec.ref: version} if version is not None else None
    when = _utc(as_of)
    found_values = guarded(lambda: api.lookup(entities, [ref], pins=pins, as_of=when))
    by_entity = (
        found_values.drop(spec.entity_keys[0])
        .cast(pl.String)
        .transpose(include_header=True, header_name="feature", column_names=[str(i) for i in ids])
    )
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=40, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        typer.echo(by_entity)


def _parse_pins(pins: list[str]) -> dict[str, int]:
    parsed: dict[str, int] = {}
    for text in pins:
        ref, _, version = text.partition("=")
        if not version.isdigit():
            raise ValueError(f"bad --pin {text!r}: expected name:vN=DELTA_VERSION, e.g. customer_txn:v1=3")
        parsed[ref.strip()] = int(version)
    return parsed


def _utc(moment: datetime | None) -> datetime | None:
    """Command-line times are UTC unless they name a zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _actor() -> str:
    import getpass

    return f"cli/{getpass.getuser()}"

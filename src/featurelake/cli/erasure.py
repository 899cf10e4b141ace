"""``featurelake forget``: erase data subjects (or plan it, or prove it), see docs/how-to/erase-a-data-subject.md.

Subjects are ``<column>=<value>``; ``--subjects-file`` (``-`` for stdin) keeps values out of the
shell's history. Nothing this command prints, logs or records holds a value: requests are named
by id and subjects by their keyed record hash.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, actor, lake, settings
from featurelake.cli.errors import fail

if TYPE_CHECKING:
    from featurelake.core.catalog import Catalog
    from featurelake.core.erasure import Subject
    from featurelake.erase.record import ErasureOutcome
    from featurelake.io.delta.store import DeltaStore
    from featurelake.io.prefect.secrets import PiiKeys

DEPLOYMENT = "erase/erase-subject"


def forget(
    source: str = typer.Option(..., "--source", help="The raw source the subject's rows came from."),
    subjects: list[str] = typer.Option([], "--subject", help="<column>=<value>; repeat for several."),
    subjects_file: Path | None = typer.Option(
        None, "--subjects-file", help="One <column>=<value> per line (- : stdin)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List what would change (tables, versions, rows, files, models)."
    ),
    rewrite_raw: bool = typer.Option(
        False,
        "--rewrite-raw",
        help="Rewrite the raw objects too, as the break-glass principal (FEATURELAKE_BREAK_GLASS_ROLE_ARN).",
    ),
    submit: bool = typer.Option(
        False, "--submit", help=f"Record the request(s) and run them on the {DEPLOYMENT} deployment."
    ),
    verify: str | None = typer.Option(
        None, "--verify", help="Prove request REQUEST done: scan every store for the subject."
    ),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Erase data subjects of a source everywhere featurelake holds them, with an audit record and a proof scan."""
    from featurelake.core.erasure import ErasureError, match_kind, parse_subject
    from featurelake.erase import request

    given = subjects + (_read_file(subjects_file) if subjects_file else [])
    if not given:
        fail("name a subject: --subject <column>=<value>, or --subjects-file FILE")
    store, found = lake(features_module)
    if source not in found.sources:
        fail(f"no source {source!r}; the sources are {sorted(found.sources)}")
    try:
        parsed = [parse_subject(text) for text in given]
        for column, _ in parsed:
            match_kind(found.sources[source], column)
    except ErasureError as error:
        fail(str(error))
    keys = request.read_keys(settings(), store, source)
    made = [request.make_subject(found.sources[source], column, value, keys) for column, value in parsed]
    if verify is not None:
        _verify(verify, made, [value for _, value in parsed], as_json)
    elif submit:
        _submit(store, made, rewrite_raw, dry_run, as_json)
    else:
        _run_here(store, found, keys, made, rewrite_raw=rewrite_raw, dry_run=dry_run, as_json=as_json)


def _read_file(path: Path) -> list[str]:
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _run_here(
    store: DeltaStore,
    found: Catalog,
    keys: PiiKeys,
    made: list[Subject],
    *,
    rewrite_raw: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Erase (or plan) each subject in this process, one after another."""
    from featurelake.cli.reach import prefect_configured
    from featurelake.erase.run import Context, erase
    from featurelake.io.aws.online_store import OnlineStore

    current = settings()
    announce = prefect_configured(current) and not dry_run
    context = Context(current, store, found, keys, actor(), OnlineStore(current), rewrite_raw, announce)
    outcomes = [erase(context, subject, dry_run=dry_run) for subject in made]
    if as_json:
        output.echo_json([_as_dict(o) for o in outcomes])
        return
    for outcome in outcomes:
        _show(outcome)


def _as_dict(outcome: ErasureOutcome) -> dict[str, object]:
    import dataclasses

    return dataclasses.asdict(outcome)


def _show(outcome: ErasureOutcome) -> None:
    """One table per request: per lake table, rows, version and files; then raw objects, models and notes."""
    verb = "would remove" if outcome.dry_run else "removed"
    output.say(f"request {outcome.request_id}{' (dry run)' if outcome.dry_run else ''}", "bold")
    grid = output.table("table", f"rows {verb}", "Delta version", "files vacuumed", right=("rows", "files vacuumed"))
    tables = sorted(set(outcome.rows_removed) | set(outcome.versions_written) | set(outcome.files_vacuumed))
    for name in tables:
        grid.add_row(
            name,
            str(outcome.rows_removed.get(name, 0)),
            str(outcome.versions_written.get(name, "")),
            str(len(outcome.files_vacuumed.get(name, []))),
        )
    if tables:
        output.show(grid)
    for ref, days in outcome.feature_days.items():
        output.say(f"{ref}: days {', '.join(days)} {'would be' if outcome.dry_run else 'were'} rebuilt")
    rewritten = len(outcome.new_etags)
    output.say(f"raw objects holding the subject: {len(outcome.raw_objects)} ({rewritten} rewritten)")
    output.say(f"online items deleted: {outcome.online_items_deleted}")
    output.say(f"models affected: {', '.join(outcome.models_affected) or 'none'}")
    for note in outcome.notes:
        output.say(note, "yellow")


def _submit(store: DeltaStore, made: list[Subject], rewrite_raw: bool, dry_run: bool, as_json: bool) -> None:
    """Record each request (hashes only) and start a run of the erase deployment for it."""
    from featurelake.cli.reach import require_prefect
    from featurelake.erase.request import record_pending
    from featurelake.io.prefect.deployments import start_deployment

    require_prefect(settings())
    started = []
    for subject in made:
        record_pending(store, subject, actor())
        parameters = {"request_id": subject.request_id, "rewrite_raw": rewrite_raw, "dry_run": dry_run}
        started.append({"request_id": subject.request_id, "flow_run_id": start_deployment(DEPLOYMENT, parameters)})
    if as_json:
        output.echo_json(started)
        return
    for run in started:
        output.say(f"request {run['request_id']}: started {DEPLOYMENT} run {run['flow_run_id']}")


def _verify(request_id: str, made: list[Subject], values: list[str], as_json: bool) -> None:
    """Scan every store for the subject of ``request_id``; exit 1 when anything is found."""
    from featurelake.core.erasure import Needles
    from featurelake.erase.proof import scan

    match = [(s, v) for s, v in zip(made, values, strict=True) if s.request_id == request_id]
    if not match:
        fail(f"request {request_id} is not the request of the subject given (check --source and --subject)")
    subject, value = match[0]
    report = scan(settings(), Needles(value=value, hashes=subject.all_hashes))
    if as_json:
        output.echo_json(
            {"request_id": request_id, "clean": report.clean, "hits": report.rows(), "scanned": report.scanned}
        )
    else:
        output.say(report.markdown())
    if not report.clean:
        raise typer.Exit(1)

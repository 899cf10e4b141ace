"""``featurelake quarantine``: what ingest rejected, from which object, why, and when.

A thin shell over :mod:`featurelake.ingest.quarantine_view`. By default it prints counts per
source, object and reason (reasons never quote values); ``--raw`` lists the records with their
stored content, which the contract's PII policies protected before it was written but which is
still row data, so it is never printed unasked. Bad input (an unknown source, a ``--since`` that
is not a time, a lake that does not answer) ends in one line saying what to fix (exit 1), by
the app's error handling (:mod:`featurelake.cli.errors`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, lake, utc

if TYPE_CHECKING:
    from rich.table import Table

    from featurelake.ingest.quarantine_view import QuarantineGroup, QuarantineRecord

#: Characters of a record's content shown in a table (``--json`` shows all of it).
PREVIEW_CHARS = 160


def quarantine(
    sources: list[str] = typer.Option(None, "--source", help="Only this source (repeatable; default: every source)."),
    since: str | None = typer.Option(
        None, "--since", help="Only rows ingested at or after this ISO 8601 time (UTC unless it has an offset)."
    ),
    object_key: str | None = typer.Option(None, "--object", help="Only rows of this raw object key."),
    raw: bool = typer.Option(
        False, "--raw", help="The records, newest first, with their stored content (PII protected; still row data)."
    ),
    limit: int = typer.Option(50, help="With --raw: how many records (0: all)."),
    as_json: bool = JSON,
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """List quarantined rows and files: per object, each reason with its row count (--raw: the records)."""
    from featurelake.ingest.quarantine_view import quarantine_groups, quarantine_records

    after = parse_since(since)
    store, found = lake(features_module)
    names = [contract.name for contract in found.select_sources(sources or None)]
    nothing = f"no quarantined rows {_scope(names, after, object_key)}"
    if raw:
        records = quarantine_records(store, names, after, object_key, limit or None)
        _report([dataclasses.asdict(r) for r in records], records_table(records), as_json, nothing)
    else:
        groups = quarantine_groups(store, names, after, object_key)
        _report([dataclasses.asdict(g) for g in groups], groups_table(groups), as_json, nothing)


def _report(rows: list[dict[str, object]], table: Table, as_json: bool, nothing: str) -> None:
    """JSON for scripts; else the table, or one line when there is nothing to show."""
    if as_json:
        output.echo_json(rows)
    elif not rows:
        output.say(nothing)
    else:
        output.show(table)


def parse_since(text: str | None) -> dt.datetime | None:
    """``--since`` as an aware UTC time; a time without an offset is taken to be UTC.

    Raises:
        ValueError: naming the value and an example of what is accepted.
    """
    if text is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not an ISO 8601 time; e.g. 2026-11-26, 2026-11-26T09:30:00 (UTC) "
            "or 2026-11-26T09:30:00+01:00"
        ) from None
    return utc(parsed).astimezone(dt.UTC)


def groups_table(groups: list[QuarantineGroup]) -> Table:
    """Counts per object and reason (object keys and reasons in full)."""
    return output.rows_table(
        ["source", "object", "reason", "rows", "last ingested (UTC)"],
        [(g.source, g.object_key, g.reason, g.rows, _when(g.last_ingested_at)) for g in groups],
        right=["rows"],
    )


def records_table(records: list[QuarantineRecord]) -> Table:
    """One line per record, newest first, with the start of its stored content."""
    return output.rows_table(
        ["ingested (UTC)", "source", "object", "reason", f"content (first {PREVIEW_CHARS} characters)"],
        [(_when(r.ingested_at), r.source, r.object_key, r.reason, _preview(r.content)) for r in records],
    )


def _preview(content: str) -> str:
    return content if len(content) <= PREVIEW_CHARS else content[:PREVIEW_CHARS] + "…"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _scope(names: list[str], since: dt.datetime | None, object_key: str | None) -> str:
    """What was searched, for the line saying nothing was found."""
    scope = f"in source(s) {', '.join(names)}" + (f", object {object_key}" if object_key else "")
    return scope + (f", ingested since {since.isoformat()}" if since else "")

"""``featurelake lineage`` and ``featurelake status``: trace a model, watch the feature sets.

Thin shells over :mod:`featurelake.lineage` and :mod:`featurelake.status`, imported lazily
(they reach MLflow and Delta; ``featurelake --help`` should not pay for that). Errors a user
can meet (an unknown model version, a table outside the lake) exit 1 with the message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import typer

T = TypeVar("T")


def _guarded(action: Callable[[], T]) -> T:
    """Run a command body; turn the errors users cause into a message and exit code 1."""
    try:
        return action()
    except (KeyError, ValueError, FileNotFoundError) as error:
        typer.secho(f"error: {error.args[0] if error.args else error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error


def lineage(
    model: str = typer.Option(..., "--model", help="Registered model name, e.g. featurelake-fraud."),
    version: str = typer.Option(..., "--version", help="Registered model version, e.g. 3."),
    json_output: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
) -> None:
    """Print the chain model → training set → feature versions → bronze versions → raw objects."""
    from featurelake.lineage import model_lineage
    from featurelake.settings import get_settings

    chain = _guarded(lambda: model_lineage(get_settings(), model, version))
    typer.echo(json.dumps(chain.as_dict(), indent=2) if json_output else chain.render_text())


def status(json_output: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Per feature set: last version, last publish, freshness, last validation outcome, drift."""
    from datetime import UTC, datetime

    from featurelake import catalog
    from featurelake.settings import get_settings
    from featurelake.status import feature_set_status, render_status

    settings = get_settings()
    found = _guarded(lambda: catalog.load(settings.features_module))
    rows = _guarded(lambda: feature_set_status(settings, found, datetime.now(UTC)))
    typer.echo(json.dumps([r.as_dict() for r in rows], indent=2) if json_output else render_status(rows))

"""``featurelake lineage`` and ``featurelake status``: trace a model, watch the feature sets.

Thin shells over :mod:`featurelake.lineage.models` and :mod:`featurelake.observe.status`, imported lazily
(they reach MLflow and Delta; ``featurelake --help`` should not pay for that). Errors a user
can meet (an unknown model version, a table outside the lake) exit 1 with the message.
"""

from __future__ import annotations

import json

import typer

from featurelake.cli.features import guarded


def lineage(
    model: str = typer.Option(..., "--model", help="Registered model name, e.g. featurelake-fraud."),
    version: str = typer.Option(..., "--version", help="Registered model version, e.g. 3."),
    json_output: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
) -> None:
    """Print the chain model → training set → feature versions → bronze versions → raw objects."""
    from featurelake.lineage.models import model_lineage
    from featurelake.settings import get_settings

    chain = guarded(lambda: model_lineage(get_settings(), model, version))
    typer.echo(json.dumps(chain.as_dict(), indent=2) if json_output else chain.render_text())


def status(json_output: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Per feature set: last version, last publish, freshness, last validation outcome, drift."""
    from datetime import UTC, datetime

    from featurelake.core import catalog
    from featurelake.observe.status import feature_set_status, render_status
    from featurelake.settings import get_settings

    settings = get_settings()
    found = guarded(lambda: catalog.load(settings.features_module))
    rows = guarded(lambda: feature_set_status(settings, found, datetime.now(UTC)))
    typer.echo(json.dumps([r.as_dict() for r in rows], indent=2) if json_output else render_status(rows))

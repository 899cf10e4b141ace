"""``featurelake lineage`` and ``featurelake status``: trace a model or a prediction batch, watch the feature sets.

Thin shells over :mod:`featurelake.lineage.models` and :mod:`featurelake.observe.status`, imported lazily
(they reach MLflow and Delta; ``featurelake --help`` should not pay for that). Errors a user
can meet (an unknown model version, a table outside the lake, an MLflow server that does not
answer) end the command with one line.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, load_catalog, settings

if TYPE_CHECKING:
    from rich.table import Table

    from featurelake.observe.status import StatusRow

_FRESHNESS_STYLES = {"fresh": "green", "STALE": "red", "never published": "yellow"}


def lineage(
    model: str = typer.Option(..., "--model", help="Registered model name, e.g. featurelake-fraud."),
    version: str | None = typer.Option(None, "--version", help="Registered model version, e.g. 3."),
    batch: int | None = typer.Option(
        None, "--batch", help="Start from a prediction batch: the Delta version of predictions/<model>."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
) -> None:
    """Print the chain model → training set → feature versions → bronze versions → raw objects.

    With ``--batch N`` the chain starts one hop earlier, at the prediction batch that made version
    N of ``predictions/<model>``: the rows it scored, the feature versions it joined, then its model.
    """
    from featurelake.cli.reach import require_lake, require_mlflow
    from featurelake.lineage.models import model_lineage
    from featurelake.lineage.predictions import prediction_lineage

    if (version is None) == (batch is None):
        raise typer.BadParameter("pass exactly one of --version (a model version) and --batch (a prediction batch)")
    require_mlflow(settings())
    require_lake(settings())
    chain = (
        prediction_lineage(settings(), model, batch)
        if batch is not None
        else model_lineage(settings(), model, str(version))
    )
    if json_output:
        output.echo_json(chain.as_dict())
    else:
        typer.echo(chain.render_text())


def status(
    json_output: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Per feature set: last version, last publish, freshness, last validation outcome, drift."""
    from datetime import UTC, datetime

    from featurelake.cli.reach import require_lake, require_mlflow
    from featurelake.observe.status import feature_set_status

    found = load_catalog(features_module)
    require_lake(settings())
    require_mlflow(settings())
    rows = feature_set_status(settings(), found, datetime.now(UTC))
    if json_output:
        output.echo_json([r.as_dict() for r in rows])
    else:
        output.show(status_table(rows))


def status_table(rows: list[StatusRow]) -> Table:
    """One row per feature set version: is it published, fresh, valid, stable?"""
    grid = output.table(
        "feature set", "version", "last publish", "age", "freshness", "validation", "drift", right=["version"]
    )
    for r in rows:
        failed = r.validation is not None and not r.validation.passed
        grid.add_row(
            output.cell(r.ref),
            output.cell(r.last_version),
            output.cell(None if r.last_publish_time is None else r.last_publish_time.isoformat(timespec="seconds")),
            output.cell(_age(r.age, r.max_staleness)),
            output.cell(r.freshness, _FRESHNESS_STYLES.get(r.freshness, "")),
            output.cell(None if r.validation is None else r.validation.describe(), "red" if failed else ""),
            output.cell("not measured" if r.drift is None else r.drift.describe()),
        )
    return grid


def _age(age: timedelta | None, limit: timedelta | None) -> str | None:
    """How old the last publish is, against the spec's limit: ``3.2h / 24h``."""
    if age is None:
        return None
    hours = age.total_seconds() / 3600
    return f"{hours:.1f}h" + (f" / {limit.total_seconds() / 3600:.0f}h" if limit is not None else "")

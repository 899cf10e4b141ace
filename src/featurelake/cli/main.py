"""The ``featurelake`` command: the app, and one line per command registering it.

The app's command group (:class:`featurelake.cli.errors.OneLineErrors`) runs every command: a
user's mistake ends it with one line on stderr, a bug with its traceback. A command added here
gets that without doing anything.
"""

from __future__ import annotations

import typer

from featurelake.cli import check as cli_check
from featurelake.cli import erasure as cli_erasure
from featurelake.cli import features as cli_features
from featurelake.cli import lineage as cli_lineage
from featurelake.cli import ops as cli_ops
from featurelake.cli import quarantine as cli_quarantine
from featurelake.cli import retrieve as cli_retrieve
from featurelake.cli import serving as cli_serving
from featurelake.cli import stack as cli_stack
from featurelake.cli.errors import DEBUG_VARIABLE, OneLineErrors

app = typer.Typer(
    cls=OneLineErrors,
    help="featurelake: versioned, validated features on Delta Lake, orchestrated by Prefect.",
    epilog=f"Errors are one line; {DEBUG_VARIABLE}=1 shows their traceback. --json prints results for scripts.",
    no_args_is_help=True,
)
app.command("plan")(cli_features.plan)
app.command("apply")(cli_features.apply)
app.command("list")(cli_features.list_feature_sets)
app.command("backfill")(cli_features.backfill)
app.command("read")(cli_retrieve.read)
app.command("training-set")(cli_retrieve.training_set)
app.command("lookup")(cli_retrieve.lookup)
app.command("history")(cli_ops.history)
app.command("rollback")(cli_ops.rollback)
app.command("vacuum")(cli_ops.vacuum)
app.command("maintain")(cli_ops.maintain)
app.command("quarantine")(cli_quarantine.quarantine)
app.command("materialize")(cli_serving.materialize)
app.command("serve-features")(cli_serving.serve_features)
app.command("forget")(cli_erasure.forget)

app.command("lineage")(cli_lineage.lineage)
app.command("status")(cli_lineage.status)
app.command("check")(cli_check.check)

app.command("demo")(cli_stack.demo)
app.command("upload")(cli_stack.upload)
app.command("watch")(cli_stack.watch)
app.command("pii-key")(cli_stack.pii_key)
app.command("serve")(cli_stack.serve)
app.command("deploy")(cli_stack.deploy)


if __name__ == "__main__":
    app()

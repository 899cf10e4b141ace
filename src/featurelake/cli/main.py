"""The ``featurelake`` command."""

from __future__ import annotations

from pathlib import Path

import typer

from featurelake.cli import check as cli_check
from featurelake.cli import features as cli_features
from featurelake.cli import lineage as cli_lineage
from featurelake.cli import ops as cli_ops

app = typer.Typer(
    help="featurelake: versioned, validated features on Delta Lake, orchestrated by Prefect.", no_args_is_help=True
)
app.command("plan")(cli_features.plan)
app.command("apply")(cli_features.apply)
app.command("list")(cli_features.list_feature_sets)
app.command("backfill")(cli_features.backfill)
app.command("read")(cli_features.read)
app.command("training-set")(cli_features.training_set)
app.command("lookup")(cli_features.lookup)
app.command("history")(cli_ops.history)
app.command("rollback")(cli_ops.rollback)
app.command("vacuum")(cli_ops.vacuum)
app.command("maintain")(cli_ops.maintain)

app.command("lineage")(cli_lineage.lineage)
app.command("status")(cli_lineage.status)
app.command("check")(cli_check.check)


@app.command()
def demo(
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Leave the stack up to explore the UIs (Ctrl-C stops it)."
    ),
    state_dir: Path = typer.Option(Path(".featurelake"), help="Where the local services keep their state."),
    stage_timeout: float = typer.Option(300.0, help="Seconds each stage may take before the demo fails."),
) -> None:
    """Run the whole chain on the embedded local stack: raw objects → features → automatic retrain."""
    from featurelake.local.demo import run_demo

    raise typer.Exit(run_demo(state_dir, keep_running, stage_timeout, say=lambda m: typer.echo(m)))


@app.command()
def upload(
    source: str = typer.Argument(..., help="Source name: objects land under <source>/ in the raw bucket."),
    files: list[Path] = typer.Argument(..., help="Local parquet, CSV or NDJSON files (optionally .gz)."),
) -> None:
    """Put local files into the raw bucket as a producer would (creates the buckets if needed)."""
    from featurelake.io.aws.raw import put_raw_objects
    from featurelake.io.aws.s3 import ensure_buckets
    from featurelake.settings import get_settings

    settings = get_settings()
    ensure_buckets(settings)
    keys = put_raw_objects(settings, {f"{source}/{f.name}": f.read_bytes() for f in files})
    typer.echo(f"uploaded {len(keys)} object(s) to s3://{settings.raw_bucket}/{source}/")
    typer.echo("the watcher announces them and ingest follows; or run: prefect deployment run ingest/ingest")


@app.command()
def watch(
    once: bool = typer.Option(False, "--once", help="Announce what is pending now and exit."),
    interval: float = typer.Option(15.0, help="Seconds between looks at the raw bucket."),
    source: list[str] = typer.Option([], "--source", help="Only these sources (repeatable); all by default."),
) -> None:
    """Announce raw objects no ingest has processed as featurelake.raw-object.landed events (needs PREFECT_API_URL)."""
    import time

    from featurelake.core import catalog
    from featurelake.ingest.watcher import announce_landed, pending_objects
    from featurelake.settings import get_settings

    settings = get_settings()
    contracts = catalog.load(settings.features_module).select_sources(source or None)
    while True:
        pending = pending_objects(settings, contracts)
        announce_landed(settings, pending)
        typer.echo(f"announced {len(pending)} pending object(s) in s3://{settings.raw_bucket}")
        if once:
            return
        time.sleep(interval)


@app.command("pii-key")
def pii_key(
    rotate: bool = typer.Option(
        False, "--rotate", help="Replace an existing key: hashes made before and after no longer match."
    ),
) -> None:
    """Create the random HMAC key for PII columns in the configured Prefect Secret block."""
    from featurelake.io.prefect.secrets import create_pii_key_block
    from featurelake.settings import get_settings

    settings = get_settings()
    if settings.pii_key_source != "prefect-secret":
        typer.echo(f"the PII key is read from {settings.pii_key_source}; create {settings.pii_key_name!r} there")
        raise typer.Exit(1)
    created = create_pii_key_block(settings.pii_key_name, overwrite=rotate)
    verb = "rotated" if rotate else "created" if created else "kept the existing"
    typer.echo(f"{verb} PII key in Prefect Secret block {settings.pii_key_name!r} (the key itself is never printed)")


@app.command()
def serve(
    prefect_file: Path = typer.Option(Path("deployments/prefect.yaml")),
    env: str = typer.Option("dev", help="Whose values fill the file's placeholders (deployments/environments)."),
) -> None:
    """Serve every deployment of prefect.yaml from this process (needs PREFECT_API_URL)."""
    from featurelake.deploy.serve import serve_all

    serve_all(prefect_file, env)


@app.command()
def deploy(
    env: str = typer.Option(..., help="dev, staging or prod: the file in deployments/environments."),
    stack: str | None = typer.Option(None, help="CloudFormation stack whose outputs give the task roles."),
    prefect_file: Path = typer.Option(Path("deployments/prefect.yaml")),
) -> None:
    """Run `prefect deploy --all` against PREFECT_API_URL with one environment's values, refusing missing ones."""
    from featurelake.cli.features import guarded
    from featurelake.deploy.register import (
        LOCAL_ENVIRONMENT,
        deploy_environment,
        ensure_process_pool,
        prefect_deploy,
        stack_values,
    )
    from featurelake.settings import get_settings

    extra = guarded(lambda: stack_values(get_settings(), stack)) if stack else {}
    values = guarded(lambda: deploy_environment(env, extra, prefect_file))
    pool = values["FEATURELAKE_WORK_POOL"]
    if env == LOCAL_ENVIRONMENT:
        if ensure_process_pool(pool):
            typer.echo(f"created process work pool {pool!r}")
        typer.echo(
            "flows run from this checkout, with the worker's environment (FEATURELAKE_* settings, AWS credentials);"
            f" start one with: FEATURELAKE_PROJECT_DIR={Path.cwd()} prefect worker start --pool {pool}"
        )
    raise typer.Exit(prefect_deploy(values, prefect_file))


if __name__ == "__main__":
    app()

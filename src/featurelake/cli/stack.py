"""``featurelake`` commands around the stack: demo, upload, watch, pii-key, serve, deploy.

Each checks first that the services it talks to answer (:mod:`featurelake.cli.reach`): a client
that cannot connect retries for tens of seconds and then prints pages of traceback, where one
line naming the setting is what a user needs.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, load_catalog, settings
from featurelake.cli.errors import fail

PREFECT_FILE = typer.Option(Path("deployments/prefect.yaml"), exists=True, dir_okay=False, help="The Prefect file.")


def demo(
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Leave the stack up to explore the UIs (Ctrl-C stops it)."
    ),
    stack_only: bool = typer.Option(
        False, "--stack-only", help="Bring the stack up without the fraud demo's data, for your own (Ctrl-C stops it)."
    ),
    state_dir: Path = typer.Option(Path(".featurelake"), help="Where the local services keep their state."),
    stage_timeout: float = typer.Option(300.0, min=1.0, help="Seconds each stage may take before the demo fails."),
) -> None:
    """Run the whole chain on the embedded local stack: raw objects → features → automatic retrain."""
    from featurelake.local.demo import run_demo

    raise typer.Exit(run_demo(state_dir, keep_running, stage_timeout, say=typer.echo, stack_only=stack_only))


def upload(
    source: str = typer.Argument(..., help="Source name: objects land under <source>/ in the raw bucket."),
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="Local parquet, CSV or NDJSON files (optionally .gz)."
    ),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Put local files into the raw bucket as a producer would (creates the buckets if needed)."""
    from featurelake.cli.reach import require_raw_bucket
    from featurelake.io.aws.raw import put_raw_objects
    from featurelake.io.aws.s3 import ensure_buckets

    load_catalog(features_module).select_sources([source])  # ingest reads declared sources only
    require_raw_bucket(settings())
    ensure_buckets(settings())
    keys = put_raw_objects(settings(), {f"{source}/{f.name}": f.read_bytes() for f in files})
    if as_json:
        output.echo_json({"bucket": settings().raw_bucket, "keys": keys})
    else:
        typer.echo(f"uploaded {len(keys)} object(s) to s3://{settings().raw_bucket}/{source}/")
    _what_happens_next(to_stderr=as_json)


def _what_happens_next(to_stderr: bool) -> None:
    """Whether anything will ingest the upload: only a Prefect server that answers runs ingest."""
    from featurelake.cli.reach import ServiceUnreachableError, prefect_api_url, prefect_configured

    try:
        configured = prefect_configured(settings())
    except ServiceUnreachableError as error:
        output.say(f"warning: {error}; until it does, nothing ingests these objects", "yellow", stderr=True)
        return
    if not configured:
        output.say(
            "warning: PREFECT_API_URL is not set, so no Prefect server hears of these objects and nothing ingests "
            "them: start the stack (`featurelake demo --stack-only`) or export PREFECT_API_URL",
            "yellow",
            stderr=True,
        )
        return
    where = prefect_api_url() or "your Prefect server"
    output.say(
        f"the raw bucket's events (or the watch-raw safety net) announce them to {where} and ingest follows; "
        "to ingest now: prefect deployment run ingest/ingest",
        stderr=to_stderr,
    )


def watch(
    once: bool = typer.Option(False, "--once", help="Announce what is pending now and exit."),
    interval: float = typer.Option(15.0, min=1.0, help="Seconds between looks at the raw bucket."),
    source: list[str] = typer.Option([], "--source", help="Only these sources (repeatable); all by default."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Announce raw objects no ingest has processed as featurelake.raw-object.landed events (needs PREFECT_API_URL)."""
    from featurelake.cli.reach import require_prefect, require_raw_bucket
    from featurelake.ingest.watcher import announce_landed, pending_objects

    contracts = load_catalog(features_module).select_sources(source or None)
    require_raw_bucket(settings())  # the raw bucket's endpoint, also the lake's when the lake is on S3
    require_prefect(settings())
    while True:
        pending = pending_objects(settings(), contracts)
        announce_landed(settings(), pending)
        typer.echo(f"announced {len(pending)} pending object(s) in s3://{settings().raw_bucket}")
        if once:
            return
        time.sleep(interval)


def pii_key(
    rotate: bool = typer.Option(
        False,
        "--rotate",
        help=(
            "Replace an existing key (hashes made before and after no longer join); the old one is kept as "
            "<name>-retired-<key id>, so erasures still match rows hashed with it."
        ),
    ),
) -> None:
    """Create the random HMAC key for PII columns in the configured Prefect Secret block."""
    from featurelake.cli.reach import require_prefect
    from featurelake.io.prefect.secrets import create_pii_key_block

    current = settings()
    if current.pii_key_source != "prefect-secret":
        fail(f"the PII key is read from {current.pii_key_source}; create {current.pii_key_name!r} there")
    require_prefect(current)
    created = create_pii_key_block(current.pii_key_name, overwrite=rotate)
    verb = "rotated" if rotate else "created" if created else "kept the existing"
    typer.echo(f"{verb} PII key in Prefect Secret block {current.pii_key_name!r} (the key itself is never printed)")


def serve(
    prefect_file: Path = PREFECT_FILE,
    env: str = typer.Option("dev", help="Whose values fill the file's placeholders (deployments/environments)."),
) -> None:
    """Serve every deployment of prefect.yaml from this process (needs PREFECT_API_URL)."""
    from featurelake.cli.reach import require_prefect
    from featurelake.deploy.serve import serve_all

    require_prefect(settings())
    serve_all(prefect_file, env)


def deploy(
    env: str = typer.Option(..., help="dev, staging or prod: the file in deployments/environments."),
    stack: str | None = typer.Option(None, help="CloudFormation stack whose outputs give the task roles."),
    prefect_file: Path = PREFECT_FILE,
) -> None:
    """Run `prefect deploy --all` against PREFECT_API_URL with one environment's values, refusing missing ones."""
    from featurelake.cli.reach import require_prefect, require_raw_bucket
    from featurelake.deploy.register import (
        LOCAL_ENVIRONMENT,
        deploy_environment,
        ensure_process_pool,
        prefect_deploy,
        stack_values,
    )

    if stack:
        require_raw_bucket(settings())  # CloudFormation is on the same endpoint as S3 locally
    extra = stack_values(settings(), stack) if stack else {}
    values = deploy_environment(env, extra, prefect_file)
    require_prefect(settings())
    pool = values["FEATURELAKE_WORK_POOL"]
    if env == LOCAL_ENVIRONMENT:
        if ensure_process_pool(pool):
            typer.echo(f"created process work pool {pool!r}")
        typer.echo(
            "flows run from this checkout, with the worker's environment (FEATURELAKE_* settings, AWS credentials);"
            f" start one with: FEATURELAKE_PROJECT_DIR={Path.cwd()} prefect worker start --pool {pool}"
        )
    raise typer.Exit(prefect_deploy(values, prefect_file))

"""The ``featurelake`` command."""

from __future__ import annotations

from pathlib import Path

import typer

from featurelake import cli_features

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
    from featurelake.io.raw import put_raw_objects
    from featurelake.io.s3 import ensure_buckets
    from featurelake.settings import get_settings

    settings = get_settings()
    ensure_buckets(settings)
    keys = put_raw_objects(settings, {f"{source}/{f.name}": f.read_bytes() for f in files})
    typer.echo(f"uploaded {len(keys)} object(s) to s3://{settings.raw_bucket}/{source}/; run the ingest flow next")


@app.command()
def serve(prefect_file: Path = typer.Option(Path("deployments/prefect.yaml"))) -> None:
    """Serve every deployment of prefect.yaml (needs PREFECT_API_URL)."""
    from featurelake.serving import serve_all

    serve_all(prefect_file)


if __name__ == "__main__":
    app()

"""``featurelake`` commands of the online path: ``materialize`` (backfill) and ``serve-features`` (HTTP).

``lambda_handler`` is the serving Lambda's entry point (infra/cloudformation/online-store.yaml):
like a command, it starts work, so it reads the settings here and hands them down; the handler
itself (:mod:`featurelake.serve.lambda_handler`) is built once per container.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, REF, feature_set, load_catalog, settings

if TYPE_CHECKING:
    from featurelake.core.featureset import FeatureSet
    from featurelake.io.delta.store import DeltaStore
    from featurelake.retrieve.featurestore import FeatureStore
    from featurelake.serve.lambda_handler import LambdaHandler
    from featurelake.serve.materialize import MaterializeResult
    from featurelake.settings import Settings

_LAMBDA: list[LambdaHandler] = []


def materialize(
    ref: str = REF,
    version: int | None = typer.Option(
        None, "--version", min=0, help="The Delta version to serve (default: the table's latest)."
    ),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Backfill the online store with every entity of a feature set version (tombstones for the ones it lacks)."""
    from featurelake.cli.reach import prefect_configured

    store, spec = feature_set(ref, features_module)
    announce = prefect_configured(settings())  # before writing: a server that is down stops it
    result = rematerialize(settings(), store, spec, version)
    event_id = _announce(spec, result) if announce else None
    if as_json:
        output.echo_json({**dataclasses.asdict(result), "event_id": event_id})
        return
    typer.echo(
        f"{spec.ref} @ Delta version {result.delta_version} → {result.online_table} ({result.mode}): "
        f"{result.entities_considered} entities, {result.items_written} written, {result.items_skipped} skipped"
    )
    if event_id is None:
        typer.echo("PREFECT_API_URL is not set: no featurelake.online-store.materialized event was emitted")
    else:
        typer.echo(f"emitted featurelake.online-store.materialized (event id {event_id})")


def rematerialize(settings: Settings, store: DeltaStore, spec: FeatureSet, version: int | None) -> MaterializeResult:
    """A full write of ``version`` (latest when None): every entity, tombstones for the ones it lacks."""
    from featurelake.io.aws.online_store import OnlineStore
    from featurelake.serve.materialize import materialize as write_online

    return write_online(store, OnlineStore(settings), spec, delta_version=version, mode="full")


def _announce(spec: FeatureSet, result: MaterializeResult) -> str:
    from featurelake.serve.announce import announce_materialized

    return announce_materialized(spec, result.event())


def serve_features(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    features_module: str | None = FEATURES_MODULE,
) -> None:
    """Serve online features over HTTP: POST /features, GET /health, OpenAPI at /docs; JSON logs on stderr."""
    import uvicorn

    from featurelake.serve.http import configure_json_logs, create_app

    features, refs = _online_feature_store(settings(), features_module)
    configure_json_logs()
    app = create_app(features, max_entities=settings().serve_max_entities, feature_sets=refs)
    output.say(f"serving features on http://{host}:{port} (OpenAPI: /docs)", stderr=True)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


def _online_feature_store(settings: Settings, features_module: str | None) -> tuple[FeatureStore, list[str]]:
    """The Python API over the lake and the online store, and the feature sets it knows."""
    from featurelake.io.aws.online_store import OnlineStore
    from featurelake.io.delta.store import DeltaStore
    from featurelake.retrieve.featurestore import FeatureStore

    found = load_catalog(features_module)
    specs = list(found.feature_sets.values())
    store = FeatureStore(DeltaStore(settings), specs, online=OnlineStore(settings))
    return store, [spec.ref for spec in specs]


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The serving Lambda's entry point: the shared handler, built on the first invocation of a container."""
    if not _LAMBDA:
        from featurelake.serve.http import configure_json_logs
        from featurelake.serve.lambda_handler import make_handler

        configure_json_logs()
        features, refs = _online_feature_store(settings(), None)
        _LAMBDA.append(make_handler(features, max_entities=settings().serve_max_entities, feature_sets=refs))
    return _LAMBDA[0](event, context)

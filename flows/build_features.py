"""Build features: bronze → pure polars transform → Great Expectations gate → publish → announce."""

from __future__ import annotations

from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from featurelake import catalog, events, tracking
from featurelake.core.featureset import FeatureSet, compute_features
from featurelake.core.naming import feature_set_resource_id
from featurelake.ingestion import SOURCE_KEY
from featurelake.io.delta import DeltaStore
from featurelake.io.registry import FeatureRegistry
from featurelake.publishing import publish, published_commit, read_source
from featurelake.revision import code_revision
from featurelake.settings import get_settings
from featurelake.validation import ValidationFailedError, ValidationOutcome, validate_batch


@task
def compute(spec: FeatureSet, source: pl.DataFrame) -> pl.DataFrame:
    """The pure transform, timed and logged by Prefect."""
    return compute_features(spec, source)


@task
def validate(spec: FeatureSet, features: pl.DataFrame, input_rows: int) -> ValidationOutcome:
    """Run the spec's Great Expectations suite on the batch."""
    return validate_batch(spec, features, input_rows)


def reject(spec: FeatureSet, outcome: ValidationOutcome, bronze_version: int) -> None:
    """Explain a failed batch in the UI and as an event, then fail the run."""
    lines = "\n".join(f"- `{f}`" for f in outcome.failed)
    create_markdown_artifact(
        markdown=f"# {spec.ref}: validation failed\n\nBronze version {bronze_version}; not published.\n\n{lines}",
        key=f"validation-{spec.name.replace('_', '-')}",
    )
    payload = events.FeatureSetValidationFailed(
        feature_set=spec.name,
        feature_set_version=spec.version,
        bronze_version=bronze_version,
        failed_expectations=list(outcome.failed),
    )
    events.emit(events.FEATURE_SET_VALIDATION_FAILED, feature_set_resource_id(spec), payload, str(bronze_version))
    raise ValidationFailedError(f"{spec.ref}: {len(outcome.failed)} expectation(s) failed: {list(outcome.failed)}")


def announce(spec: FeatureSet, payload: events.FeatureSetPublished, expectations: int) -> dict[str, object]:
    """Show the publish in the UI and emit the event (deterministic id: a re-emit collapses)."""
    summary: dict[str, object] = payload.model_dump() | {"expectations": expectations, "validation": "passed"}
    create_table_artifact(
        table=[summary], key=f"build-{spec.name.replace('_', '-')}", description="Published feature batch"
    )
    events.emit(
        events.FEATURE_SET_PUBLISHED,
        feature_set_resource_id(spec),
        payload,
        str(payload.delta_version),
        labels={"featurelake.table-uri": payload.table_uri, "featurelake.delta-version": str(payload.delta_version)},
    )
    return summary


def reannounce(spec: FeatureSet, store: DeltaStore, commit: dict[str, Any], bronze_version: int) -> dict[str, object]:
    """A retried build of an input that is already published: announce it again, change nothing."""
    settings, delta_version = get_settings(), int(commit["version"])
    table_uri = store.uri(spec.table_path)
    builds = tracking.search_runs(
        settings, {"featurelake.feature_set": spec.ref, "featurelake.delta_version": str(delta_version)}
    )
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        delta_version=delta_version,
        bronze_version=bronze_version,
        row_count=store.existing(spec.table_path, delta_version).count(),  # from the log, without reading rows
        suite_hash=str(commit.get("featurelake.suite_hash", "")),
        fingerprint=commit.get("featurelake.fingerprint"),
        mlflow_run_id=builds[0]["run_id"] if builds else None,
    )
    expectations = int(builds[0]["metrics"].get("expectations_evaluated", 0)) if builds else 0
    return announce(spec, payload, expectations)


@flow(name="build-features", log_prints=True)
def build_features(feature_set: str = "customer_txn", version: int = 1) -> dict[str, object]:
    """Build, validate and publish one feature set version from its bronze source."""
    settings, logger = get_settings(), get_run_logger()
    spec, store = catalog.load(settings.features_module).get(feature_set, version), DeltaStore(settings)
    revision = code_revision()
    record = FeatureRegistry(store).ensure_registered(spec, revision, actor=f"flow-run/{flow_run.id}")
    source, bronze_version = read_source(store, spec)
    existing = published_commit(store, spec, bronze_version)
    if existing is not None:
        logger.info(
            "bronze version %d is already published as %s version %s", bronze_version, spec.ref, existing["version"]
        )
        return reannounce(spec, store, existing, bronze_version)
    features = compute(spec, source)
    outcome = validate(spec, features, source.height)
    if not outcome.success:
        reject(spec, outcome, bronze_version)
    audit = {
        "featurelake.flow_run_id": str(flow_run.id),
        "featurelake.suite_hash": outcome.suite_hash,
        "featurelake.fingerprint": record.fingerprint,
        "featurelake.code_revision": revision,
    }
    delta_version = publish(store, spec, features, bronze_version, audit)
    table_uri = store.uri(spec.table_path)
    keys = sorted(source[SOURCE_KEY].unique().to_list())
    run_id = tracking.log_build(
        settings,
        tags={**audit, "featurelake.feature_set": spec.ref, "featurelake.delta_version": str(delta_version)},
        params={
            "bronze_version": bronze_version,
            "table_uri": table_uri,
            "delta_version": delta_version,
            "source_objects": ",".join(keys)[:6000],
            "source_rows": source.height,
        },
        features=features,
        table_uri=table_uri,
        validation_result=outcome.result,
    )
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        delta_version=delta_version,
        bronze_version=bronze_version,
        row_count=features.height,
        suite_hash=outcome.suite_hash,
        fingerprint=record.fingerprint,
        mlflow_run_id=run_id,
    )
    return announce(spec, payload, outcome.evaluated)

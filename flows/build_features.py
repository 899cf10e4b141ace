"""Build features: bronze → pure polars transform → Great Expectations gate → publish → announce."""

from __future__ import annotations

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from featurelake import events, tracking
from featurelake.core.featureset import FeatureSet, compute_features
from featurelake.core.naming import feature_set_resource_id
from featurelake.ingestion import SOURCE_KEY
from featurelake.io.delta import DeltaStore
from featurelake.publishing import publish, published_version, read_source
from featurelake.settings import get_settings
from featurelake.validation import ValidationOutcome, validate_batch
from features import get_feature_set


class ValidationFailedError(RuntimeError):
    """The batch failed its suite; nothing was published."""


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


@flow(name="build-features", log_prints=True)
def build_features(feature_set: str = "customer_txn", version: int = 1) -> dict[str, object]:
    """Build, validate and publish one feature set version from its bronze source."""
    settings, logger = get_settings(), get_run_logger()
    spec, store = get_feature_set(feature_set, version), DeltaStore(settings)
    source, bronze_version = read_source(store, spec)
    existing = published_version(store, spec, bronze_version)
    features = compute(spec, source)
    outcome = validate(spec, features, source.height)
    if not outcome.success:
        reject(spec, outcome, bronze_version)
    audit = {"featurelake.flow_run_id": str(flow_run.id), "featurelake.suite_hash": outcome.suite_hash}
    if existing is None:
        delta_version = publish(store, spec, features, bronze_version, audit)
    else:
        delta_version = existing
        logger.info("bronze version %d was already published as %s version %d", bronze_version, spec.ref, existing)
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
    summary: dict[str, object] = {
        "feature_set": spec.ref,
        "table_uri": table_uri,
        "delta_version": delta_version,
        "bronze_version": bronze_version,
        "rows": features.height,
        "expectations": outcome.evaluated,
        "validation": "passed",
        "mlflow_run_id": run_id,
    }
    create_table_artifact(
        table=[summary], key=f"build-{spec.name.replace('_', '-')}", description="Published feature batch"
    )
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        delta_version=delta_version,
        bronze_version=bronze_version,
        row_count=features.height,
        suite_hash=outcome.suite_hash,
        mlflow_run_id=run_id,
    )
    events.emit(
        events.FEATURE_SET_PUBLISHED,
        feature_set_resource_id(spec),
        payload,
        str(delta_version),
        labels={"featurelake.table-uri": table_uri, "featurelake.delta-version": str(delta_version)},
    )
    return summary

"""Build features: bronze → pure polars transform → Great Expectations gate → publish → announce."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import deployment, flow_run
from prefect.transactions import Transaction, get_transaction, transaction

from featurelake import catalog, events, tracking
from featurelake.core.constraints import check_constraints
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet, compute_features
from featurelake.core.naming import bronze_path, feature_quarantine_path, feature_set_resource_id
from featurelake.ingestion import SOURCE_ETAG, SOURCE_KEY
from featurelake.io.delta import DeltaStore
from featurelake.io.feature_tables import ensure_check_constraints
from featurelake.io.registry import FeatureRegistry
from featurelake.observability import announce_drift, build_lineage, drift_metrics, measure_drift
from featurelake.operations import announce_rollback, rollback
from featurelake.publishing import publish, published_commit, read_source
from featurelake.revision import code_revision
from featurelake.settings import get_settings
from featurelake.validation import ValidationFailedError, ValidationOutcome, load_user_expectations, validate_batch


@task
def compute(spec: FeatureSet, source: pl.DataFrame) -> pl.DataFrame:
    """The pure transform, timed and logged by Prefect."""
    return compute_features(spec, source)


@task
def validate(spec: FeatureSet, features: pl.DataFrame, input_rows: int) -> ValidationOutcome:
    """Run the spec's suite, plus the owner's expectations kept beside the feature set."""
    path = catalog.load(get_settings().features_module).expectations_path(spec)
    return validate_batch(spec, features, input_rows, load_user_expectations(path))


def validation_report(spec: FeatureSet, outcome: ValidationOutcome, bronze_version: int, published: bool) -> str:
    """Markdown for the UI: each failed expectation, blocking or warn-only, with a few offending values."""
    verdict = "published" if published else "**not published** (kept in quarantine)"
    lines = [
        f"# {spec.ref}: validation {'passed' if outcome.success else 'FAILED'}",
        "",
        f"Bronze version {bronze_version}; {verdict}. Suite `{outcome.suite_hash}`, {outcome.evaluated} checks.",
        "",
        "| severity | expectation | examples |",
        "|---|---|---|",
    ]
    for failure in outcome.failures:
        examples = ", ".join(f"`{e}`" for e in failure.examples) or "-"
        lines.append(f"| {failure.severity} | `{failure.expectation}` | {examples} |")
    if not outcome.failures:
        lines.append("| - | every expectation passed | - |")
    return "\n".join(lines)


def reject(
    spec: FeatureSet, store: DeltaStore, features: pl.DataFrame, outcome: ValidationOutcome, bronze_version: int
) -> None:
    """Keep the failed batch in quarantine, explain it in the UI and as an event, then fail the run."""
    quarantine = feature_quarantine_path(spec.name, spec.version)
    kept = features.with_columns(
        pl.lit(bronze_version).alias("_bronze_version"),
        pl.lit(json.dumps(list(outcome.failed))).alias("_failed_expectations"),
        pl.lit(str(flow_run.id)).alias("_flow_run_id"),
    )
    metadata = {"featurelake.flow_run_id": str(flow_run.id), "featurelake.suite_hash": outcome.suite_hash}
    store.write(quarantine, kept, mode="overwrite", predicate=f"_bronze_version = {bronze_version}", metadata=metadata)
    create_markdown_artifact(
        markdown=validation_report(spec, outcome, bronze_version, published=False),
        key=f"validation-{spec.name.replace('_', '-')}",
    )
    payload = events.FeatureSetValidationFailed(
        feature_set=spec.name,
        feature_set_version=spec.version,
        bronze_version=bronze_version,
        failed_expectations=list(outcome.failed),
        suite_hash=outcome.suite_hash,
        quarantine_uri=store.uri(quarantine),
        rows=features.height,
    )
    discriminator = events.at(store.uri(spec.table_path), f"bronze-{bronze_version}")
    events.emit(events.FEATURE_SET_VALIDATION_FAILED, feature_set_resource_id(spec), payload, discriminator)
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
        events.at(payload.table_uri, payload.delta_version),
        labels={"featurelake.table-uri": payload.table_uri, "featurelake.delta-version": str(payload.delta_version)},
    )
    return summary


def reannounce(spec: FeatureSet, store: DeltaStore, commit: dict[str, Any], bronze_version: int) -> dict[str, object]:
    """A retried build of an input that is already published: announce it again, change nothing."""
    settings, delta_version = get_settings(), int(commit["version"])
    table_uri = store.uri(spec.table_path)
    builds = tracking.build_runs(settings, spec.ref, delta_version)  # not the retrains that trained on it
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
    build_lineage(settings, "START", spec, str(flow_run.id), bronze_version)
    try:
        return build_and_publish(spec, store, source, bronze_version, record.fingerprint, revision)
    except BaseException as error:
        build_lineage(settings, "FAIL", spec, str(flow_run.id), bronze_version, error=error)
        raise


def build_and_publish(
    spec: FeatureSet, store: DeltaStore, source: pl.DataFrame, bronze_version: int, fingerprint: str, revision: str
) -> dict[str, object]:
    """Compute → gate → (drift, constraints) → publish → record → announce."""
    logger = get_run_logger()
    features = compute(spec, source)
    outcome = validate(spec, features, source.height)
    if not outcome.success:
        reject(spec, store, features, outcome, bronze_version)
    create_markdown_artifact(
        markdown=validation_report(spec, outcome, bronze_version, published=True),
        key=f"validation-{spec.name.replace('_', '-')}",
    )
    drift = measure_drift(store, spec, features)
    audit = {
        "featurelake.flow_run_id": str(flow_run.id),
        "featurelake.deployment": str(deployment.name or "(none: run directly)"),
        "featurelake.flow_run_url": str(flow_run.ui_url or ""),
        "featurelake.suite_hash": outcome.suite_hash,
        "featurelake.fingerprint": fingerprint,
        "featurelake.code_revision": revision,
    }
    added = ensure_check_constraints(store, spec, check_constraints(spec), features)
    if added:
        logger.info("added Delta CHECK constraints %s to %s", added, store.uri(spec.table_path))
    with transaction():  # a failure from here to the announcement restores the table (publish_batch.on_rollback)
        delta_version = publish_batch(spec, features, bronze_version, audit)
        return record_and_announce(spec, store, source, features, outcome, drift, bronze_version, delta_version, audit)


@task
def publish_batch(spec: FeatureSet, features: pl.DataFrame, bronze_version: int, audit: dict[str, str]) -> int:
    """Publish in one commit; remember the version before it, for the rollback hook."""
    store, txn = DeltaStore(get_settings()), get_transaction()
    if txn is not None:
        txn.set("featurelake.spec", spec)
        txn.set("featurelake.previous_version", store.version(spec.table_path))
    return publish(store, spec, features, bronze_version, audit)


@publish_batch.on_rollback
def restore_before_publish(txn: Transaction) -> None:
    """The flow failed after publishing: put the table back as it was and say so (audit, event)."""
    spec: FeatureSet = txn.get("featurelake.spec")
    previous: int | None = txn.get("featurelake.previous_version")
    settings, logger = get_settings(), get_run_logger()
    if previous is None:  # the publish created the table: there is no earlier state to go back to
        logger.error("%s: the build failed after its first publish; nothing to restore to", spec.ref)
        return
    result = rollback(
        DeltaStore(settings),
        spec,
        previous,
        actor=f"flow-run/{flow_run.id}",
        reason="the build failed after publishing; its batch is withdrawn",
        extra_metadata={"featurelake.flow_run_id": str(flow_run.id)},
    )
    logger.warning("%s restored to Delta version %d after a failure", spec.ref, previous)
    announce_rollback(settings, spec, result)


def record_and_announce(
    spec: FeatureSet,
    store: DeltaStore,
    source: pl.DataFrame,
    features: pl.DataFrame,
    outcome: ValidationOutcome,
    drift: tuple[DriftReport, int] | None,
    bronze_version: int,
    delta_version: int,
    audit: dict[str, str],
) -> dict[str, object]:
    """After the publish: MLflow lineage, drift report, OpenLineage COMPLETE, the published event."""
    settings = get_settings()
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
        validation_metrics={**outcome.metrics(), **(drift_metrics(drift[0]) if drift else {})},
        sources={
            "bronze_table": store.uri(bronze_path(spec.source.name)),
            "bronze_version": bronze_version,
            "raw_objects": source.select(SOURCE_KEY, SOURCE_ETAG).unique().sort(SOURCE_KEY).to_dicts(),
        },
    )
    if drift is not None:
        report_drift(spec, drift[0], delta_version, drift[1])
    build_lineage(settings, "COMPLETE", spec, str(flow_run.id), bronze_version, output=(delta_version, features))
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        delta_version=delta_version,
        bronze_version=bronze_version,
        row_count=features.height,
        suite_hash=outcome.suite_hash,
        fingerprint=audit["featurelake.fingerprint"],
        mlflow_run_id=run_id,
        warnings=list(outcome.warnings),
    )
    return announce(spec, payload, outcome.evaluated)


def report_drift(spec: FeatureSet, report: DriftReport, delta_version: int, reference_version: int) -> None:
    """Show drift against the previous publish in the UI; announce a breach as an event."""
    title = f"# {spec.ref}: drift of Delta version {delta_version} against version {reference_version}\n\n"
    create_markdown_artifact(markdown=title + report.to_markdown(), key=f"drift-{spec.name.replace('_', '-')}")
    if report.breached:
        get_run_logger().warning("%s drifted beyond its thresholds: %s", spec.ref, list(report.breached))
        announce_drift(spec, report, delta_version, reference_version)

"""Build features: bronze → pure polars transform → Great Expectations gate → publish → announce."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import as_completed
from prefect.runtime import deployment, flow_run
from prefect.transactions import Transaction, get_transaction, transaction

from featurelake.build.chunks import (
    DRIFT_SAMPLE_ROWS,
    BuildBatch,
    BuildPlan,
    ChunkResult,
    build_chunk,
    clear_quarantine,
    combine_outcomes,
    max_rows_for_budget,
    plan_build,
    publish_marker,
    publish_metadata,
    resident_bytes,
)
from featurelake.build.publish import bronze_version_of, published_commit
from featurelake.core import catalog, commits, events
from featurelake.core.constraints import check_constraints
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet
from featurelake.core.increments import DayChunk
from featurelake.core.naming import bronze_path, feature_quarantine_path, feature_set_resource_id
from featurelake.ingest.bronze import SOURCE_KEY
from featurelake.io.delta.feature_tables import ensure_check_constraints
from featurelake.io.delta.registry import FeatureRegistry
from featurelake.io.delta.store import AppTransaction, DeltaStore
from featurelake.io.mlflow import runs
from featurelake.io.prefect.events import emit
from featurelake.io.prefect.runners import chunk_task_runner
from featurelake.io.revision import code_revision
from featurelake.lineage.jobs import build_lineage
from featurelake.observe.drift import announce_drift, drift_metrics
from featurelake.operate.rollback import announce_rollback, rollback
from featurelake.settings import get_settings
from featurelake.validate.gate import ValidationFailedError, ValidationOutcome, load_library, load_user_expectations


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


def reject(spec: FeatureSet, store: DeltaStore, outcome: ValidationOutcome, bronze_version: int, rows: int) -> None:
    """Explain a failed gate in the UI and as an event, then fail the run (the chunks kept their rows in quarantine)."""
    quarantine = feature_quarantine_path(spec.name, spec.version)
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
        rows=rows,
    )
    discriminator = events.at(store.uri(spec.table_path), f"bronze-{bronze_version}")
    emit(events.FEATURE_SET_VALIDATION_FAILED, feature_set_resource_id(spec), payload, discriminator)
    raise ValidationFailedError(f"{spec.ref}: {len(outcome.failed)} expectation(s) failed: {list(outcome.failed)}")


def announce(
    spec: FeatureSet, payload: events.FeatureSetPublished, expectations: int, seconds: dict[str, float] | None = None
) -> dict[str, object]:
    """Show the publish in the UI (with where the chunks' time went) and emit the event (a re-emit collapses)."""
    summary: dict[str, object] = payload.model_dump() | {"expectations": expectations, "validation": "passed"}
    summary |= {f"seconds_{step}": value for step, value in (seconds or {}).items()}
    create_table_artifact(
        table=[summary], key=f"build-{spec.name.replace('_', '-')}", description="Published feature batch"
    )
    emit(
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
    builds = runs.build_runs(settings, spec.ref, delta_version)  # not the retrains that trained on it
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        delta_version=delta_version,
        bronze_version=bronze_version,
        row_count=int(commit.get(commits.BATCH_ROWS) or store.existing(spec.table_path, delta_version).count()),
        suite_hash=str(commit.get(commits.SUITE_HASH, "")),
        fingerprint=commit.get(commits.FINGERPRINT),
        mlflow_run_id=builds[0]["run_id"] if builds else None,
    )
    expectations = int(builds[0]["metrics"].get("expectations_evaluated", 0)) if builds else 0
    return announce(spec, payload, expectations)


@flow(name="build-features", log_prints=True, task_runner=chunk_task_runner(get_settings()))
def build_features(feature_set: str = "customer_txn", version: int = 1) -> dict[str, object]:
    """Build, validate and publish one feature set version from its bronze source."""
    settings, logger = get_settings(), get_run_logger()
    spec, store = catalog.load(settings.features_module).get(feature_set, version), DeltaStore(settings)
    revision = code_revision()
    record = FeatureRegistry(store).ensure_registered(spec, revision, actor=f"flow-run/{flow_run.id}")
    bronze_version = bronze_version_of(store, spec)
    existing = published_commit(store, spec, bronze_version)
    if existing is not None:
        logger.info(
            "bronze version %d is already published as %s version %s", bronze_version, spec.ref, existing["version"]
        )
        return reannounce(spec, store, existing, bronze_version)
    build_lineage(settings, "START", spec, str(flow_run.id), bronze_version)
    try:
        return build_and_publish(spec, store, bronze_version, record.fingerprint, revision)
    except BaseException as error:
        build_lineage(settings, "FAIL", spec, str(flow_run.id), bronze_version, error=error)
        raise


@task
def plan(spec: FeatureSet, bronze_version: int) -> BuildPlan:
    """Which days this build recomputes, in which chunks (shown in the UI)."""
    settings = get_settings()
    budget = settings.build_memory_budget
    if budget is not None:
        load_library()  # the gate's library is part of the process's footprint, not the chunks' share
    max_rows = max_rows_for_budget(spec, budget, resident_bytes()) if budget is not None else settings.build_chunk_rows
    build_plan = plan_build(DeltaStore(settings), spec, bronze_version, max_rows)
    create_table_artifact(
        table=[build_plan.summary()], key=f"plan-{spec.name.replace('_', '-')}", description="Build plan"
    )
    get_run_logger().info("%s build plan: %s", spec.ref, build_plan.summary())
    return build_plan


@task(task_run_name="chunk {chunk.label}")
def compute_chunk(
    feature_set: str,
    version: int,
    chunk: DayChunk,
    bronze_version: int,
    reference_version: int | None,
    metadata: dict[str, str],
    sample_rows: int,
    single: bool,
) -> ChunkResult:
    """Read, compute, gate and write one chunk; it loads the spec itself so it can run on any worker."""
    settings = get_settings()
    features_catalog = catalog.load(settings.features_module)
    spec = features_catalog.get(feature_set, version)
    marker = AppTransaction(commits.build_app_id(spec), bronze_version) if single else None
    return build_chunk(
        DeltaStore(settings),
        spec,
        chunk,
        bronze_version=bronze_version,
        reference_version=reference_version,
        metadata=metadata,
        user_expectations=load_user_expectations(features_catalog.expectations_path(spec)),
        sample_rows=sample_rows,
        app_transaction=marker,
        prepare_table=single,
        validation_engine=settings.validation_engine,
    )


def run_chunks(
    spec: FeatureSet, build_plan: BuildPlan, reference_version: int | None, audit: dict[str, str]
) -> list[ChunkResult]:
    """Fan the chunks out on the flow's task runner; wait for all of them, showing progress."""
    single = len(build_plan.chunks) == 1
    if single:
        metadata = publish_metadata(spec, build_plan.bronze_version, audit, rows=0)  # the chunk adds its row count
    else:
        metadata = {**audit, commits.OPERATION: commits.Operation.BUILD_CHUNK, commits.FEATURE_SET: spec.ref}
    sample_rows = max(1_000, DRIFT_SAMPLE_ROWS // max(1, len(build_plan.chunks)))
    futures = [
        compute_chunk.submit(
            spec.name, spec.version, chunk, build_plan.bronze_version, reference_version, metadata, sample_rows, single
        )
        for chunk in build_plan.chunks
    ]
    progress = create_progress_artifact(0.0, key=f"build-progress-{spec.name.replace('_', '-')}")
    assert isinstance(progress, UUID)  # the sync call returns the id
    for done, _ in enumerate(as_completed(futures), start=1):
        update_progress_artifact(progress, 100.0 * done / len(futures))
    return [future.result() for future in futures]


def build_and_publish(
    spec: FeatureSet, store: DeltaStore, bronze_version: int, fingerprint: str, revision: str
) -> dict[str, object]:
    """Plan → chunks (compute, gate, write) → publish → record → announce; a failure restores the table."""
    logger = get_run_logger()
    build_plan = plan(spec, bronze_version)
    audit = {
        commits.FLOW_RUN_ID: str(flow_run.id),
        commits.DEPLOYMENT: str(deployment.name or "(none: run directly)"),
        commits.FLOW_RUN_URL: str(flow_run.ui_url or ""),
        commits.FINGERPRINT: fingerprint,
        commits.CODE_REVISION: revision,
    }
    if not build_plan.chunks:  # e.g. bronze was only compacted: nothing to compute, nothing new to announce
        metadata = publish_metadata(spec, bronze_version, audit, rows=0) | {commits.CHUNKS: "0"}
        delta_version = publish_marker(store, spec, bronze_version, metadata)
        logger.info("%s: no day changed since bronze version %s", spec.ref, build_plan.base_bronze_version)
        return {"feature_set": spec.name, "delta_version": delta_version, "row_count": 0, "unchanged": True}
    if len(build_plan.chunks) > 1:  # before chunks write concurrently (a single chunk does it after its gate)
        schema = pl.DataFrame(schema=spec.output_schema())
        added = ensure_check_constraints(store, spec, check_constraints(spec), schema)
        if added:
            logger.info("added Delta CHECK constraints %s to %s", added, store.uri(spec.table_path))
    clear_quarantine(store, spec, bronze_version)
    with transaction():  # a failure from here to the announcement restores the table (begin_publish.on_rollback)
        reference_version = begin_publish(spec)
        results = run_chunks(spec, build_plan, reference_version, audit)
        outcome = combine_outcomes([r.outcome for r in results])
        batch = BuildBatch.of(results)
        if not outcome.success:
            reject(spec, store, outcome, bronze_version, batch.rows)
        delta_version = finish_publish(spec, store, build_plan, results, audit, outcome)
        create_markdown_artifact(
            markdown=validation_report(spec, outcome, bronze_version, published=True),
            key=f"validation-{spec.name.replace('_', '-')}",
        )
        drift = batch.drift(spec, reference_version)
        audit[commits.SUITE_HASH] = outcome.suite_hash
        return record_and_announce(spec, store, batch, outcome, drift, bronze_version, delta_version, audit)


def finish_publish(
    spec: FeatureSet,
    store: DeltaStore,
    build_plan: BuildPlan,
    results: list[ChunkResult],
    audit: dict[str, str],
    outcome: ValidationOutcome,
) -> int:
    """The publish's Delta version: the single chunk's commit, or a marker commit after several."""
    if len(results) == 1 and results[0].delta_version is not None:
        return results[0].delta_version
    rows = sum(r.rows for r in results)
    metadata = publish_metadata(spec, build_plan.bronze_version, audit, rows) | {
        commits.SUITE_HASH: outcome.suite_hash,
        commits.CHUNKS: str(len(results)),
    }
    return publish_marker(store, spec, build_plan.bronze_version, metadata)


@task
def begin_publish(spec: FeatureSet) -> int | None:
    """Remember the table's version before any chunk writes, for the rollback hook; it is also drift's reference."""
    store, txn = DeltaStore(get_settings()), get_transaction()
    previous = store.version(spec.table_path)
    if txn is not None:
        txn.set("featurelake.spec", spec)
        txn.set("featurelake.previous_version", previous)
    return previous


@begin_publish.on_rollback
def restore_before_publish(txn: Transaction) -> None:
    """The flow failed after publishing: put the table back as it was and say so (audit, event)."""
    spec: FeatureSet = txn.get("featurelake.spec")
    previous: int | None = txn.get("featurelake.previous_version")
    settings, logger = get_settings(), get_run_logger()
    if previous is None:  # the publish created the table: there is no earlier state to go back to
        logger.error("%s: the build failed after its first publish; nothing to restore to", spec.ref)
        return
    if DeltaStore(settings).version(spec.table_path) == previous:  # nothing was written (e.g. the gate failed)
        return
    result = rollback(
        DeltaStore(settings),
        spec,
        previous,
        actor=f"flow-run/{flow_run.id}",
        reason="the build failed after publishing; its batch is withdrawn",
        extra_metadata={commits.FLOW_RUN_ID: str(flow_run.id)},
    )
    logger.warning("%s restored to Delta version %d after a failure", spec.ref, previous)
    announce_rollback(settings, spec, result)


def record_and_announce(
    spec: FeatureSet,
    store: DeltaStore,
    batch: BuildBatch,
    outcome: ValidationOutcome,
    drift: tuple[DriftReport, int] | None,
    bronze_version: int,
    delta_version: int,
    audit: dict[str, str],
) -> dict[str, object]:
    """After the publish: MLflow lineage, drift report, OpenLineage COMPLETE, the published event."""
    settings = get_settings()
    table_uri = store.uri(spec.table_path)
    objects = batch.source_objects.sort(SOURCE_KEY)
    run_id = runs.log_build(
        settings,
        tags={**audit, commits.FEATURE_SET: spec.ref, commits.DELTA_VERSION: str(delta_version)},
        params={
            "bronze_version": bronze_version,
            "table_uri": table_uri,
            "delta_version": delta_version,
            "source_objects": ",".join(objects[SOURCE_KEY].unique(maintain_order=True).to_list())[:6000],
            "source_rows": batch.source_rows,
        },
        features=batch.sample,
        feature_rows=batch.rows,
        table_uri=table_uri,
        validation_result=outcome.result,
        validation_metrics={**outcome.metrics(), **(drift_metrics(drift[0]) if drift else {})},
        sources={
            "bronze_table": store.uri(bronze_path(spec.source.name)),
            "bronze_version": bronze_version,
            "raw_objects": objects.to_dicts(),
        },
    )
    if drift is not None:
        report_drift(spec, drift[0], delta_version, drift[1])
    build_lineage(
        settings, "COMPLETE", spec, str(flow_run.id), bronze_version, output=(delta_version, batch.sample, batch.rows)
    )
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        delta_version=delta_version,
        bronze_version=bronze_version,
        row_count=batch.rows,
        suite_hash=outcome.suite_hash,
        fingerprint=audit[commits.FINGERPRINT],
        mlflow_run_id=run_id,
        warnings=list(outcome.warnings),
    )
    return announce(spec, payload, outcome.evaluated, batch.seconds)


def report_drift(spec: FeatureSet, report: DriftReport, delta_version: int, reference_version: int) -> None:
    """Show drift against the previous publish in the UI; announce a breach as an event."""
    title = f"# {spec.ref}: drift of Delta version {delta_version} against version {reference_version}\n\n"
    create_markdown_artifact(markdown=title + report.to_markdown(), key=f"drift-{spec.name.replace('_', '-')}")
    if report.breached:
        get_run_logger().warning("%s drifted beyond its thresholds: %s", spec.ref, list(report.breached))
        announce_drift(spec, report, delta_version, reference_version)

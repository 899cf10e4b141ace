"""Build features: bronze → pure polars transform → Great Expectations gate → publish → record → announce."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.transactions import transaction

from featurelake.build import announcements, publish, record
from featurelake.build.audit import RunFacts
from featurelake.build.batch import BuildBatch, PublishedBatch
from featurelake.build.chunks import chunk_jobs
from featurelake.build.reference import drift_basis_of
from featurelake.core import catalog
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.runners import chunk_task_runner
from featurelake.io.revision import code_revision
from featurelake.lineage.jobs import build_lineage
from featurelake.observe.drift import drift_metrics
from featurelake.settings import Settings, get_settings
from flows.build_announce import announce, reject, report_drift, show_unchanged, show_validation
from flows.build_tasks import begin_publish, plan, run_chunks, run_facts


@flow(name="build-features", log_prints=True, task_runner=chunk_task_runner(get_settings()))
def build_features(feature_set: str = "customer_txn", version: int = 1) -> dict[str, object]:
    """Build, validate and publish one feature set version from its bronze source."""
    settings, run = get_settings(), run_facts()
    spec, store = catalog.load(settings.features_module).get(feature_set, version), DeltaStore(settings)
    start = publish.start(store, spec, code_revision(), run.actor)
    get_run_logger().info(start.describe(spec))
    if start.published is not None:  # a retry of a published input: announce it again, change nothing
        return announce(spec, announcements.republished(settings, store, spec, start))
    build_lineage(settings, "START", spec, run.flow_run_id, start.bronze_version)
    try:
        return build_and_publish(settings, store, spec, start, run)
    except BaseException as error:
        build_lineage(settings, "FAIL", spec, run.flow_run_id, start.bronze_version, error=error)
        raise


def build_and_publish(
    settings: Settings, store: DeltaStore, spec: FeatureSet, start: publish.BuildStart, run: RunFacts
) -> dict[str, object]:
    """Plan → chunks (compute, gate, write) → publish → record → announce; a failure restores the table."""
    build_plan, audit = plan(spec, start.bronze_version), run.audit(start.fingerprint, start.code_revision)
    if not build_plan.chunks:  # e.g. bronze was only compacted: nothing to compute, nothing new to announce
        get_run_logger().info("%s: no day changed since bronze version %s", spec.ref, build_plan.base_bronze_version)
        return show_unchanged(spec, build_plan, publish.publish_unchanged(store, spec, build_plan, audit))
    publish.prepare(store, spec, build_plan)
    with transaction():  # a failure from here to the announcement restores the table (begin_publish.on_rollback)
        basis = drift_basis_of(store, spec, build_plan, begin_publish(spec))
        results = run_chunks(spec, chunk_jobs(spec, build_plan, basis, audit))
        batch = BuildBatch.of(results)
        if not batch.outcome.success:
            reject(store, spec, batch.outcome, start.bronze_version, batch.rows)
        delta_version = publish.finish(store, spec, build_plan, results, audit, batch.outcome)
        show_validation(spec, batch.outcome, start.bronze_version, published=True)
        published = PublishedBatch.of(store, spec, start.bronze_version, delta_version, batch, audit)
        return record_and_announce(settings, store, run, published, batch.drift(spec, basis))


def record_and_announce(
    settings: Settings,
    store: DeltaStore,
    run: RunFacts,
    published: PublishedBatch,
    drift: tuple[DriftReport, int] | None,
) -> dict[str, object]:
    """After the publish: MLflow lineage, drift report, OpenLineage COMPLETE, the published event."""
    spec, batch, delta_version = published.spec, published.batch, published.delta_version
    run_id = record.log_build_run(settings, published, drift_metrics(drift[0]) if drift else {})
    report_drift(store, spec, drift, delta_version)
    output = (delta_version, batch.sample, batch.rows)
    build_lineage(settings, "COMPLETE", spec, run.flow_run_id, published.bronze_version, output=output)
    return announce(spec, announcements.published(published, run_id))

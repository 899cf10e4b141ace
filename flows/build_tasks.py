"""The build flow's tasks: plan, one chunk, the fan-out, and the publish transaction's rollback hook."""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.runtime import deployment, flow_run
from prefect.transactions import Transaction, get_transaction

from featurelake.build.audit import WITHDRAWN, RunFacts
from featurelake.build.budget import chunk_row_limit
from featurelake.build.chunks import ChunkJob, ChunkResult, run_chunk_job
from featurelake.build.plan import BuildPlan, plan_build
from featurelake.build.report import artifact_key
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta.store import DeltaStore
from featurelake.operate.rollback import announce_rollback, rollback
from featurelake.settings import get_settings


def run_facts() -> RunFacts:
    """This flow run as the audit trail names it."""
    return RunFacts(str(flow_run.id), deployment.name, flow_run.ui_url)


@task
def plan(spec: FeatureSet, bronze_version: int) -> BuildPlan:
    """Which days this build recomputes, in which chunks (shown in the UI)."""
    settings = get_settings()
    build_plan = plan_build(DeltaStore(settings), spec, bronze_version, chunk_row_limit(spec, settings))
    create_table_artifact(table=[build_plan.summary()], key=artifact_key("plan", spec), description="Build plan")
    get_run_logger().info("%s build plan: %s", spec.ref, build_plan.summary())
    return build_plan


@task(task_run_name="chunk {job.chunk.label}")
def compute_chunk(job: ChunkJob) -> ChunkResult:
    """Read, compute, gate and write one chunk; it loads the spec itself so it can run on any worker."""
    return run_chunk_job(get_settings(), job)


def run_chunks(spec: FeatureSet, jobs: list[ChunkJob]) -> list[ChunkResult]:
    """Fan the chunks out on the flow's task runner; wait for all of them, showing progress."""
    futures = [compute_chunk.submit(job) for job in jobs]
    progress = create_progress_artifact(0.0, key=artifact_key("build-progress", spec))
    assert isinstance(progress, UUID)  # the sync call returns the id
    for done, _ in enumerate(as_completed(futures), start=1):
        update_progress_artifact(progress, 100.0 * done / len(futures))
    return [future.result() for future in futures]


@task
def begin_publish(spec: FeatureSet) -> int | None:
    """Remember the table's version before any chunk writes, for the rollback hook; it is also drift's reference."""
    previous, txn = DeltaStore(get_settings()).version(spec.table_path), get_transaction()
    if txn is not None:
        txn.set("featurelake.spec", spec)
        txn.set("featurelake.previous_version", previous)
    return previous


@begin_publish.on_rollback
def restore_before_publish(txn: Transaction) -> None:
    """The flow failed after publishing: put the table back as it was and say so (audit, event)."""
    spec: FeatureSet = txn.get("featurelake.spec")
    previous: int | None = txn.get("featurelake.previous_version")
    settings, logger, run = get_settings(), get_run_logger(), run_facts()
    store = DeltaStore(settings)
    if previous is None:  # the publish created the table: there is no earlier state to go back to
        logger.error("%s: the build failed after its first publish; nothing to restore to", spec.ref)
        return
    if store.version(spec.table_path) == previous:  # nothing was written (e.g. the gate failed)
        return
    metadata = run.withdrawal_metadata()
    result = rollback(store, spec, previous, actor=run.actor, reason=WITHDRAWN, extra_metadata=metadata)
    logger.warning("%s restored to Delta version %d after a failure", spec.ref, previous)
    announce_rollback(settings, spec, result)

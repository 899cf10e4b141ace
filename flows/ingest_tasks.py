"""The ingest flow's Prefect side: one source's backlog as a retried task, and failing the run."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import deployment, flow_run
from prefect.tasks import exponential_backoff

from featurelake.core.contracts import SourceContract
from featurelake.ingest.backlog import SourceRun, ingest_backlog, needs_pii_key, worth_retrying
from featurelake.ingest.bronze import IngestResult, audit_tags, ingested_objects
from featurelake.ingest.order import upload_ordered
from featurelake.ingest.suppression import load_suppressor
from featurelake.io.aws.raw import list_raw_objects
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.secrets import read_pii_key
from featurelake.lineage import openlineage
from featurelake.lineage.jobs import send_lineage
from featurelake.settings import Settings


def _worth_retrying(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a failed attempt only if its exception may pass on a second try (:func:`worth_retrying`)."""
    try:
        state.result()
    except Exception as error:
        return worth_retrying(error)
    return False


@task(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=5), retry_condition_fn=_worth_retrying)
def ingest_source(settings: Settings, contract: SourceContract, objects_per_commit: int = 100) -> IngestResult | None:
    """Ingest the objects of one source that were not ingested before, a bounded chunk per commit."""
    logger = get_run_logger()
    done = ingested_objects(DeltaStore(settings), contract.name)
    pending = upload_ordered(settings.raw_bucket, list_raw_objects(settings, contract.raw_prefix), done, logger)
    logger.info("source %s: %d new object(s), %d already ingested", contract.name, len(pending), len(done))
    if not pending:
        return None
    pii_key = read_pii_key(settings) if needs_pii_key(contract) else None
    tags = audit_tags(str(flow_run.id), deployment.name, pii_key)
    run = SourceRun(settings, contract, tags, pii_key, logger, load_suppressor(settings, contract.name))
    description = f"{contract.name}: {len(pending)} new object(s) ingested so far"
    progress: Any = create_progress_artifact(0.0, description=description)
    return ingest_backlog(
        run, pending, done, objects_per_commit, lambda percent: update_progress_artifact(progress, percent)
    )


def fail_run(
    settings: Settings,
    raw: list[openlineage.LineageDataset],
    bronze: list[openlineage.LineageDataset],
    failed: dict[str, State[Any]],
) -> None:
    """Fail the flow run with the first failed source's own exception, after telling lineage and the log.

    The other sources landed and were announced before; the exception's message names the
    bucket and key (or the PII key's store) that made the source fail.
    """
    cause = RuntimeError(f"source(s) {sorted(failed)} failed: {[s.message for s in failed.values()]}")
    send_lineage(settings, "FAIL", "ingest", str(flow_run.id), raw, bronze, cause)
    for name, state in failed.items():
        get_run_logger().error("source %s failed: %s", name, state.message)
    next(iter(failed.values())).result()  # re-raises that source's exception

"""Ingest: new raw objects of each source → bronze Delta tables (bad rows → quarantine)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import deployment, flow_run
from prefect.tasks import exponential_backoff

from featurelake.core import catalog, commits, events
from featurelake.core.contracts import SourceContract
from featurelake.core.naming import bronze_path, bronze_resource_id
from featurelake.core.pii import PiiKeyError, key_id
from featurelake.ingest.announcements import needs_announcement, record_announced, unannounced_landing
from featurelake.ingest.bronze import (
    IngestResult,
    ObjectBatch,
    combine_results,
    ingested_objects,
    quarantine_known_keys,
    split_object,
    write_batches,
)
from featurelake.io.aws.raw import RawObject, list_raw_objects
from featurelake.io.aws.s3 import ObjectChangedError, PermanentS3Error
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.io.prefect.secrets import read_pii_key
from featurelake.io.revision import code_revision
from featurelake.lineage import openlineage
from featurelake.lineage.jobs import send_lineage
from featurelake.settings import Settings, get_settings

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _worth_retrying(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry what may pass on a second try (network, throttling beyond the client's own retries).

    A missing bucket, a denied read or a missing PII key fails the same way every time, so the
    run fails at once with the message that names it. Retrying is safe: every write is idempotent.
    """
    try:
        state.result()
    except (PermanentS3Error, PiiKeyError, KeyError):
        return False
    except Exception:
        return True
    return False


@task(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=5), retry_condition_fn=_worth_retrying)
def ingest_source(contract: SourceContract, objects_per_commit: int = 100) -> IngestResult | None:
    """Ingest the objects of one source that were not ingested before, a bounded chunk per commit.

    Chunking keeps memory flat for a backlog of thousands of objects; each chunk is exactly-once
    on its own, so a crash between chunks loses nothing and repeats nothing.
    """
    settings, logger = get_settings(), get_run_logger()
    store = DeltaStore(settings)
    done = ingested_objects(store, contract.name)
    listed = list_raw_objects(settings, contract.raw_prefix)
    # Oldest first: when a file is re-sent under a new name, the original keeps its rows in bronze.
    pending = sorted(
        (o for o in listed if (o.key, o.etag) not in done), key=lambda o: (o.last_modified or _EPOCH, o.key)
    )
    logger.info("source %s: %d new object(s), %d already ingested", contract.name, len(pending), len(done))
    if not pending:
        return None
    tags = {
        commits.FLOW_RUN_ID: str(flow_run.id),
        commits.FLOW: "ingest",
        commits.DEPLOYMENT: str(deployment.name or "(none: run directly)"),
        commits.CODE_REVISION: code_revision(),
    }
    pii_key = read_pii_key(settings) if "hash" in contract.pii.values() else None
    if pii_key is not None:
        tags[commits.PII_KEY_ID] = key_id(pii_key)  # which key hashed this batch, for audits and rotation
    results = []
    progress: Any = create_progress_artifact(
        0.0, description=f"{contract.name}: {len(pending)} new object(s) ingested so far"
    )
    for start in range(0, len(pending), objects_per_commit):
        chunk = pending[start : start + objects_per_commit]
        split = [
            _split_logged(settings, contract, o, pii_key, f"{start + i}/{len(pending)}") for i, o in enumerate(chunk, 1)
        ]
        batches = [b for b in split if b is not None]
        if batches:
            checked = quarantine_known_keys(store, contract, batches)
            results.append(write_batches(store, contract, checked, tags, replaced=frozenset(k for k, _ in done)))
        update_progress_artifact(progress, 100.0 * min(start + objects_per_commit, len(pending)) / len(pending))
    return combine_results(results) if results else None


def _split_logged(
    settings: Settings, contract: SourceContract, obj: RawObject, pii_key: bytes | None, progress: str
) -> ObjectBatch | None:
    """Split one object and log its counts; None for an object that changed since listing (next run takes it)."""
    try:
        batch = split_object(settings, contract, obj, dt.datetime.now(dt.UTC), pii_key)
    except ObjectChangedError as error:
        get_run_logger().warning("skipped for now: %s", error)
        return None
    get_run_logger().info(
        "read %s: %s (%d rows: %d accepted, %d quarantined)",
        progress,
        obj.key,
        batch.rows_read,
        batch.accepted.height,
        batch.quarantined.height,
    )
    if not batch.reconciled:
        raise RuntimeError(f"{obj.key}: rows read do not reconcile; nothing was written for this batch")
    return batch


def announce(result: IngestResult) -> None:
    """Tell the automations that bronze moved (deterministic id: re-emits collapse)."""
    settings = get_settings()
    payload = events.BronzeAppended(
        source=result.source,
        table_uri=settings.table_uri(bronze_path(result.source)),
        delta_version=result.bronze_version or 0,  # only called for a result that moved bronze
        rows_accepted=result.rows_accepted,
        rows_quarantined=result.rows_quarantined,
        source_keys=result.source_keys,
    )
    emit(
        events.BRONZE_APPENDED,
        bronze_resource_id(result.source),
        payload,
        discriminator=events.at(payload.table_uri, result.bronze_version),
        labels={"featurelake.delta-version": str(result.bronze_version)},
    )


@flow(name="ingest", log_prints=True)
def ingest(sources: list[str] | None = None, objects_per_commit: int = 100) -> list[dict[str, object]]:
    """Ingest every source the features package declares (or the named ones) and announce what landed."""
    settings = get_settings()
    chosen = catalog.load(settings.features_module).select_sources(sources)
    raw = [openlineage.LineageDataset(f"s3://{settings.raw_bucket}", c.raw_prefix) for c in chosen]
    send_lineage(settings, "START", "ingest", str(flow_run.id), raw, [])
    states = {c.name: ingest_source(c, objects_per_commit, return_state=True) for c in chosen}
    failed = {name: state for name, state in states.items() if not state.is_completed()}
    results = [r for state in states.values() if state.is_completed() and (r := state.result()) is not None]
    rows = [{k: v for k, v in vars(r).items() if k != "source_keys"} | {"reconciled": r.reconciled} for r in results]
    if rows:
        create_table_artifact(
            table=rows, key="ingest-summary", description="Rows read = accepted + quarantined, per source"
        )
    store, tags = (
        DeltaStore(settings),
        {commits.FLOW_RUN_ID: str(flow_run.id), commits.FLOW: "ingest"},
    )
    landed = {r.source: r for r in results}
    for contract in chosen:
        if contract.name in failed:
            continue
        result = landed.get(contract.name) or unannounced_landing(store, contract.name)
        if result is not None and needs_announcement(store, result):
            announce(result)
            record_announced(store, result, tags)
    bronze = [openlineage.s3_dataset(store.uri(bronze_path(r.source)), r.bronze_version) for r in results]
    if failed:  # the other sources landed and were announced; now fail the run with the first cause
        cause = RuntimeError(f"source(s) {sorted(failed)} failed: {[s.message for s in failed.values()]}")
        send_lineage(settings, "FAIL", "ingest", str(flow_run.id), raw, bronze, cause)
        for name, state in failed.items():
            get_run_logger().error("source %s failed: %s", name, state.message)
        first = next(iter(failed.values()))
        first.result()  # re-raises that source's exception, whose message names bucket and key
    send_lineage(settings, "COMPLETE", "ingest", str(flow_run.id), raw, bronze)
    return rows

"""Erase: one data subject removed from every table, store and (optionally) raw object, with proof of it.

Run as ``prefect deployment run 'erase/erase-subject' --param request_id=<id>`` for a request
``featurelake forget --submit`` recorded (the request holds keyed hashes only: the subject's raw
value never becomes a flow parameter, which Prefect would keep). The steps are in
:mod:`featurelake.erase.run`; a re-run of the same request completes an interrupted one.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from featurelake.core import catalog
from featurelake.erase import record, request
from featurelake.erase.run import Context
from featurelake.erase.run import erase as erase_subject
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import get_settings


@flow(name="erase", log_prints=True)
def erase(request_id: str, rewrite_raw: bool = False, dry_run: bool = False) -> dict[str, object]:
    """Carry out the pending erasure request ``request_id`` (``dry_run``: only say what it would change)."""
    settings = get_settings()
    store = DeltaStore(settings)
    subject = request.load_pending(store, request_id)
    if subject is None:
        done = record.logged(store, request_id)
        get_run_logger().info("request %s: %s", request_id, "already completed" if done else "no such request")
        if done is None:
            raise ValueError(f"no pending erasure request {request_id}: make one with `featurelake forget --submit`")
        return {"request_id": request_id, "already_completed": True}
    context = Context(
        settings, store, catalog.load(settings.features_module), request.read_keys(settings, store, subject.source),
        actor=f"flow-run/{flow_run.id}", online=OnlineStore(settings), rewrite_raw=rewrite_raw,
    )  # fmt: skip
    outcome = erase_subject(context, subject, dry_run=dry_run)
    create_markdown_artifact(
        markdown=record.outcome_markdown(outcome), key="erasure", description=f"erasure {request_id}"
    )
    get_run_logger().info("erasure %s: %s", request_id, outcome.summary())
    return outcome.summary() | {"notes": outcome.notes}

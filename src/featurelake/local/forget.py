"""The demo's erasure leg: one customer asks to be forgotten; the erase deployment does it; a scan proves it.

The customer is erased from both sources that carry them (transactions and fraud labels), each a
request recorded with keyed hashes only and run by the ``erase/erase-subject`` deployment with
the break-glass principal rewriting the raw objects. The proof scan then searches every lake and
raw object version, the online store, MLflow and Prefect for the customer's id and its hashes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from featurelake.core import catalog
from featurelake.core.erasure import Needles
from featurelake.core.naming import bronze_path, feature_table_path
from featurelake.erase.proof import scan
from featurelake.erase.request import make_subject, read_keys, record_pending
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.deployments import start_deployment
from featurelake.local import synthetic
from featurelake.local.chain import wait_for_deployments, wait_for_run
from featurelake.settings import Settings

ERASE = "erase/erase-subject"
SOURCES = ("transactions", "fraud_labels")


def forget_a_customer(
    data: synthetic.SyntheticData, stage_timeout: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """Erase one customer with history from every source through the deployment; what the summary shows."""
    settings, started = Settings(), dt.datetime.now(dt.UTC)
    wait_for_deployments([ERASE], stage_timeout, say)
    customer = _customer_with_history(data)
    store, found = DeltaStore(settings), catalog.load(settings.features_module)
    bronze = store.read(bronze_path("transactions"), columns=["customer_id"])
    rows = bronze.filter(pl.col("customer_id") == customer).height
    tables = (feature_table_path("customer_txn", 1), bronze_path("transactions"))
    before = {path: store.version(path) for path in tables}
    requests, needles = [], Needles(value=customer)
    for source in SOURCES:
        subject = make_subject(found.sources[source], "customer_id", customer, read_keys(settings, store, source))
        needles = Needles(value=customer, hashes=needles.hashes | subject.all_hashes)
        record_pending(store, subject, "demo")
        run_id = start_deployment(ERASE, {"request_id": subject.request_id, "rewrite_raw": True})
        say(f"erase: customer {customer} of {source}: request {subject.request_id}, run {run_id}")
        wait_for_run(run_id, f"erase {source}", stage_timeout, say)
        requests.append(subject.request_id)
    proof = scan(settings, needles)
    say(f"proof scan: {len(proof.hits)} hit(s) of customer {customer} across {proof.scanned}")
    return {
        "customer": customer,
        "started_at": started.isoformat(),
        "requests": requests,
        "rows_removed": rows,
        "versions_before": before,
        "hits": [f"{h.system}: {h.location} ({h.kind})" for h in proof.hits],
        "scanned": proof.scanned,
    }


def _customer_with_history(data: synthetic.SyntheticData) -> str:
    """A customer with transactions on several days and a label (not the one the production leg serves)."""
    labelled = set(data.labels["customer_id"].to_list())
    served, _, _ = synthetic.new_transaction(data)
    days = (
        data.transactions.group_by("customer_id")
        .agg(pl.col("event_time").dt.date().n_unique().alias("days"))
        .filter(pl.col("days") >= 2)
        .sort("customer_id")
    )
    return str(next(c for c in days["customer_id"].to_list() if c in labelled and c != served))

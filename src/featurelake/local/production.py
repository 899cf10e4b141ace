"""The demo's last leg: a transaction lands after the retrain, the champion scores it, its features are served.

Nothing is started by hand here either. The upload is announced like the others, and the
automations ingest it, rebuild and publish ``customer_txn``, materialize that publish into the
online store (DynamoDB on the moto endpoint) and score the new bronze rows with the champion. The
demo then starts ``featurelake serve-features``, asks it over HTTP for the customer's features,
and reads the champion's score for the new transaction from ``predictions/<model>``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import polars as pl

from featurelake.local import synthetic
from featurelake.local.chain import StageError, wait_for_triggered_run
from featurelake.local.stack import LocalStack
from featurelake.settings import Settings

MODEL, FEATURE_SET = "featurelake-fraud", "customer_txn:v1"
INGEST, BUILD = "ingest/ingest", "build-features/customer-txn-v1"
_POLL_SECONDS = 1.0


def serve_and_score(
    stack: LocalStack, data: synthetic.SyntheticData, stage_timeout: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """Land one new transaction, wait for the chain to serve and score it; what the summary shows."""
    settings, since = Settings(), dt.datetime.now(dt.UTC)
    customer, at, objects = synthetic.new_transaction(data)
    synthetic.upload(settings, objects)
    say(f"landed one new transaction of customer {customer}: {', '.join(objects)}")
    wait_for_triggered_run(INGEST, since, "ingest the new transaction", stage_timeout, say)
    wait_for_triggered_run(BUILD, since, "build customer_txn again", stage_timeout, say)
    server = stack.start_feature_server(say)
    served = _served_after_publish(settings, server.url, customer, at, stage_timeout, say)
    scored = _score_of(settings, synthetic.NEW_TRANSACTION_ID, stage_timeout, say)
    return {"served": served, "score": scored, "feature_server": server.url}


def _served_after_publish(
    settings: Settings, url: str, customer: str, at: dt.datetime, timeout: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """The customer's features over HTTP as of the new transaction's time, once the latest publish is served.

    The synthetic data lie in the past, so the request names its time (``at``): asked "now", every
    value would be older than the 7-day TTL and served as null (status ``expired``), as training would.
    """
    from featurelake.core.naming import feature_table_path
    from featurelake.io.delta.store import DeltaStore

    latest = DeltaStore(settings).version(feature_table_path("customer_txn", 1))
    say(f"materialize: waiting for the online store to serve {FEATURE_SET} at Delta version {latest}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = {"entities": [{"customer_id": customer}], "features": [FEATURE_SET], "at": at.isoformat()}
        answer = _post(f"{url}/features", body)
        result = answer["results"][0]
        served = result["metadata"][FEATURE_SET]
        if served["delta_version"] is not None and latest is not None and served["delta_version"] >= latest:
            return {"customer": customer, "at": at.isoformat(), "features": result["features"], **served}
        time.sleep(_POLL_SECONDS)
    raise StageError("materialize", f"the online store did not serve Delta version {latest} within {timeout:.0f} s")


def _score_of(settings: Settings, txn_id: str, timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
    """The champion's score of one transaction, once a scoring batch has written it."""
    from featurelake.core.naming import predictions_path
    from featurelake.io.delta.store import DeltaStore

    store, path = DeltaStore(settings), predictions_path(MODEL)
    say(f"score: waiting for the champion's score of transaction {txn_id} in {path}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.table(path) is not None:
            rows = store.read(path).filter(pl.col("txn_id") == txn_id)
            if rows.height:
                return {"table": store.uri(path), **rows.row(0, named=True)}
        time.sleep(_POLL_SECONDS)
    raise StageError("score", f"no score of transaction {txn_id} in {path} within {timeout:.0f} s")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON, return the decoded answer: the loopback URL of the feature server this demo started."""
    request = urllib.request.Request(  # nosec B310
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310
        answer: dict[str, Any] = json.loads(response.read())
    return answer

"""The feature service over real HTTP (uvicorn on loopback) against DynamoDB and S3 on the moto server.

A toy feature table is published to the lake, materialized into its online table, and asked for
over HTTP: the values, versions and statuses the service returns are the ones ``lookup`` gives
at the same Delta version, unknown entities come back null with a reason, and bad input is a
one-line 4xx. A rollback re-materializes from the restored version.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
import uvicorn

from featurelake.core import commits
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.local.processes import free_port
from featurelake.operate.rollback import rematerialize_online, rollback
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.serve.http import create_app
from featurelake.serve.materialize import materialize
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

SPEC = toy_spec("served")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
AT = T0 + timedelta(hours=6)


def _publish(lake: DeltaStore, scores: dict[str, float]) -> None:
    rows = pl.DataFrame(
        {"user_id": list(scores), "event_time": [T0] * len(scores), "score": list(scores.values())}
    ).with_columns(pl.col("event_time").cast(UTC_US))
    write_feature_table(lake, SPEC, rows, metadata=commits.publish_metadata(SPEC.ref, 1, {}, rows=rows.height))


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, DeltaStore, OnlineStore, FeatureStore]]:
    lake, online = DeltaStore(settings), OnlineStore(settings)
    _publish(lake, {"u1": 1.5, "u2": 2.5})
    materialize(lake, online, SPEC, mode="full")
    features = FeatureStore(lake, [SPEC], online=online)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(features, max_entities=2, feature_sets=[SPEC.ref]), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # startup, not a race: uvicorn sets it once the socket listens
        thread.join(0.01)
    yield f"http://127.0.0.1:{port}", lake, online, features
    server.should_exit = True
    thread.join(30)


def _post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{url}/features", json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_served_values_are_lookups_at_the_same_version_and_unknowns_are_null_with_a_reason(
    served: tuple[str, DeltaStore, OnlineStore, FeatureStore],
) -> None:
    url, lake, _, features = served
    body = {"entities": [{"user_id": "u2"}, {"user_id": "nobody"}], "features": [SPEC.ref], "at": AT.isoformat()}
    status, payload = _post(url, body)
    assert status == 200, payload
    version = lake.existing(SPEC.table_path).version()
    expected = features.lookup(
        pl.DataFrame({"user_id": ["u2", "nobody"]}), [SPEC.ref], pins={SPEC.ref: version}, as_of=AT
    )
    known, unknown = payload["results"]
    assert known["features"] == {f"{SPEC.ref}:score": expected["score"][0]} == {f"{SPEC.ref}:score": 2.5}
    assert known["metadata"][SPEC.ref]["delta_version"] == version
    assert known["metadata"][SPEC.ref]["status"] == "ok"
    assert unknown["features"] == {f"{SPEC.ref}:score": None}
    assert unknown["metadata"][SPEC.ref]["status"] == "unknown_entity"


def test_bad_input_over_http_is_a_one_line_4xx(served: tuple[str, DeltaStore, OnlineStore, FeatureStore]) -> None:
    url = served[0]
    cases = [
        ({"entities": [{"user_id": 1}], "features": [SPEC.ref]}, 400),
        ({"entities": [{"user_id": "u1"}], "features": ["served:v9"]}, 400),
        ({"entities": [], "features": [SPEC.ref]}, 422),
        ({"entities": [{"user_id": str(i)} for i in range(3)], "features": [SPEC.ref]}, 413),
    ]
    for body, expected in cases:
        status, payload = _post(url, body)
        assert status == expected, payload
        assert "\n" not in payload["detail"]


def test_a_rollback_rematerializes_the_restored_version(
    served: tuple[str, DeltaStore, OnlineStore, FeatureStore],
) -> None:
    url, lake, online, _ = served
    _publish(lake, {"u3": 3.5})  # version 1 adds u3
    materialize(lake, online, SPEC)
    assert _post(url, {"entities": [{"user_id": "u3"}], "features": [SPEC.ref], "at": AT.isoformat()})[1]["results"][0][
        "features"
    ] == {f"{SPEC.ref}:score": 3.5}
    result = rollback(lake, SPEC, 0, actor="tests", reason="bad publish")
    assert rematerialize_online(lake, online, SPEC, result) is not None
    (gone,) = _post(url, {"entities": [{"user_id": "u3"}], "features": [SPEC.ref], "at": AT.isoformat()})[1]["results"]
    assert gone["features"] == {f"{SPEC.ref}:score": None}
    assert gone["metadata"][SPEC.ref]["status"] == "unknown_entity"

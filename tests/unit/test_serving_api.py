"""The feature service's contract over HTTP (FastAPI TestClient) and as a Lambda (API Gateway v2 events).

The store behind it is an in-memory stand-in with ``get_online_features``' documented shape (the
real path against DynamoDB on moto is tests/integration/test_serving_http.py): these tests pin
what a caller sees, every refusal included.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from featurelake.core.catalog import discover
from featurelake.core.featureset import FeatureSet
from featurelake.serve.http import REQUEST_ID_HEADER, JsonLogFormatter, create_app
from featurelake.serve.lambda_handler import make_handler

SPECS = discover("features").feature_sets
CUSTOMER = SPECS["customer_txn:v1"]
KNOWN = "c-1"
EVENT_TIME = datetime(2026, 11, 3, 12, tzinfo=UTC)
SECRET_AMOUNT = 1234.5


class InMemoryOnline:
    """Customer ``c-1`` is known with every feature at SECRET_AMOUNT; everyone else is unknown."""

    def __init__(self) -> None:
        self.calls: list[tuple[pl.DataFrame, list[str], datetime | None]] = []

    def spec(self, ref: str) -> FeatureSet:
        name, version = ref.split(":")[:2]
        try:
            return SPECS[f"{name}:{version}"]
        except KeyError:
            raise KeyError(f"unknown feature set {name}:{version}; known: {sorted(SPECS)}") from None

    def get_online_features(
        self, entities: pl.DataFrame, features: list[str], *, at: datetime | None = None
    ) -> pl.DataFrame:
        self.calls.append((entities, features, at))
        frame = entities
        for ref in dict.fromkeys(":".join(f.split(":")[:2]) for f in features):
            spec = self.spec(ref)
            known = pl.col(spec.entity_keys[0]) == KNOWN
            prefix = f"{spec.name}__v{spec.version}__"
            frame = frame.with_columns(
                *(pl.when(known).then(pl.lit(SECRET_AMOUNT)).alias(f) for f in spec.feature_names),
                pl.when(known).then(pl.lit(EVENT_TIME)).alias(f"{prefix}event_time"),
                pl.when(known).then(pl.lit(7)).alias(f"{prefix}delta_version"),
                pl.when(known).then(pl.lit("ok")).otherwise(pl.lit("unknown_entity")).alias(f"{prefix}status"),
            )
        return frame


@pytest.fixture
def store() -> InMemoryOnline:
    return InMemoryOnline()


@pytest.fixture
def client(store: InMemoryOnline) -> TestClient:
    return TestClient(create_app(store, max_entities=3, feature_sets=sorted(SPECS)))


def post(client: TestClient, body: Any) -> Any:
    return client.post("/features", json=body)


def test_a_known_and_an_unknown_entity_come_back_in_order_with_values_versions_and_a_reason(
    client: TestClient, store: InMemoryOnline
) -> None:
    at = "2026-11-03T13:00:00+00:00"
    body = {"entities": [{"customer_id": "nobody"}, {"customer_id": KNOWN}], "features": ["customer_txn:v1"], "at": at}
    response = post(client, body)
    assert response.status_code == 200, response.text
    payload = response.json()
    names = [f"customer_txn:v1:{f}" for f in CUSTOMER.feature_names]
    assert payload["features"] == names
    unknown, known = payload["results"]
    assert unknown["entity"] == {"customer_id": "nobody"}
    assert unknown["features"] == dict.fromkeys(names)
    assert unknown["metadata"]["customer_txn:v1"] == {
        "event_time": None,
        "delta_version": None,
        "status": "unknown_entity",
    }
    assert known["features"] == dict.fromkeys(names, SECRET_AMOUNT)
    meta = known["metadata"]["customer_txn:v1"]
    assert (meta["status"], meta["delta_version"]) == ("ok", 7)
    assert datetime.fromisoformat(meta["event_time"]) == EVENT_TIME
    ((frame, features, passed_at),) = store.calls
    assert frame.schema == {"customer_id": pl.String}
    assert features == ["customer_txn:v1"]
    assert passed_at == datetime.fromisoformat(at)


def test_one_feature_of_each_of_two_sets(client: TestClient) -> None:
    refs = ["customer_txn:v1:amount_sum_1h", "merchant_txn:v1:merchant_txn_count_1h"]
    response = post(client, {"entities": [{"customer_id": KNOWN, "merchant_id": "m"}], "features": refs})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["features"] == {refs[0]: SECRET_AMOUNT, refs[1]: None}
    assert {k: v["status"] for k, v in result["metadata"].items()} == {
        "customer_txn:v1": "ok",
        "merchant_txn:v1": "unknown_entity",
    }


BAD = {
    "unknown feature set": (
        {"entities": [{"customer_id": KNOWN}], "features": ["nope:v1"]},
        400,
        "unknown feature set nope:v1",
    ),
    "unknown feature": (
        {"entities": [{"customer_id": KNOWN}], "features": ["customer_txn:v1:nope"]},
        400,
        "has no feature 'nope'",
    ),
    "malformed reference": (
        {"entities": [{"customer_id": KNOWN}], "features": ["customer_txn"]},
        400,
        "bad feature reference",
    ),
    "wrong key type": (
        {"entities": [{"customer_id": 42}], "features": ["customer_txn:v1"]},
        400,
        "entity 0: key 'customer_id' must be a string",
    ),
    "missing key": ({"entities": [{"merchant_id": "m"}], "features": ["customer_txn:v1"]}, 400, "lacks key"),
    "empty batch": ({"entities": [], "features": ["customer_txn:v1"]}, 422, "body.entities: List should have"),
    "no features": ({"entities": [{"customer_id": KNOWN}], "features": []}, 422, "body.features"),
    "float key": ({"entities": [{"customer_id": 1.5}], "features": ["customer_txn:v1"]}, 422, "body.entities.0"),
    "time without zone": (
        {"entities": [{"customer_id": KNOWN}], "features": ["customer_txn:v1"], "at": "2026-11-03T13:00:00"},
        422,
        "body.at",
    ),
    "oversize batch": (
        {"entities": [{"customer_id": str(i)} for i in range(4)], "features": ["customer_txn:v1"]},
        413,
        "4 entities in one request; the limit is 3",
    ),
}


@pytest.mark.parametrize(("body", "status", "detail"), BAD.values(), ids=BAD.keys())
def test_bad_input_is_a_4xx_with_one_line(client: TestClient, body: Any, status: int, detail: str) -> None:
    response = post(client, body)
    assert response.status_code == status, response.text
    text = response.json()["detail"]
    assert isinstance(text, str)
    assert "\n" not in text
    assert detail in text


def test_a_body_that_is_not_json_is_a_one_line_422(client: TestClient) -> None:
    response = client.post("/features", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "\n" not in response.json()["detail"]


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "feature_sets": sorted(SPECS)}
    schema = client.get("/openapi.json").json()
    assert {"/features", "/health"} <= set(schema["paths"])
    refusals = schema["paths"]["/features"]["post"]["responses"]
    for status in ("400", "413", "422"):
        assert refusals[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert client.get("/docs").status_code == 200


def test_each_request_is_one_structured_log_line_with_its_id_and_no_keys_or_values(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"entities": [{"customer_id": KNOWN}], "features": ["customer_txn:v1"]}
    with caplog.at_level(logging.INFO, logger="featurelake.serve"):
        response = client.post("/features", json=body, headers={REQUEST_ID_HEADER: "req-123"})
        refused = client.post("/features", json={**body, "entities": [{"customer_id": 42}]})
    assert response.headers[REQUEST_ID_HEADER] == "req-123"
    fields = [r.fields for r in caplog.records if r.name == "featurelake.serve"]  # type: ignore[attr-defined]
    assert [f["status"] for f in fields] == [200, 400]
    assert fields[0]["request_id"] == "req-123"
    assert fields[0]["entities"] == 1
    assert fields[0]["statuses"] == {"ok": 1}
    assert fields[0]["latency_ms"] >= 0
    assert fields[1]["request_id"] == refused.headers[REQUEST_ID_HEADER] != "req-123"
    logged = json.dumps(fields)
    assert KNOWN not in logged
    assert str(SECRET_AMOUNT) not in logged


def test_a_request_id_that_could_forge_log_lines_is_replaced(client: TestClient) -> None:
    response = client.get("/health", headers={REQUEST_ID_HEADER: 'x" , "status": 200'})
    assert response.headers[REQUEST_ID_HEADER] != 'x" , "status": 200'


# --- the Lambda handler: API Gateway HTTP API / Function URL events (payload format 2.0) ---------------


def event(method: str, path: str, body: Any = None, *, encode: bool = False) -> dict[str, Any]:
    text = None if body is None else json.dumps(body)
    if encode and text is not None:
        text = base64.b64encode(text.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-request-id": "lambda-1"},
        "requestContext": {"http": {"method": method, "path": path}, "requestId": "abc"},
        "body": text,
        "isBase64Encoded": encode,
    }


@pytest.mark.parametrize("encode", [False, True])
def test_the_lambda_answers_like_the_http_app(client: TestClient, store: InMemoryOnline, encode: bool) -> None:
    handler = make_handler(store, max_entities=3, feature_sets=sorted(SPECS))
    body = {"entities": [{"customer_id": KNOWN}, {"customer_id": "x"}], "features": ["customer_txn:v1:amount_sum_1h"]}
    result = handler(event("POST", "/features", body, encode=encode), None)
    assert result["statusCode"] == 200
    assert result["headers"][REQUEST_ID_HEADER] == "lambda-1"
    assert json.loads(result["body"]) == post(client, body).json()


@pytest.mark.parametrize(("body", "status", "detail"), BAD.values(), ids=BAD.keys())
def test_the_lambda_refuses_bad_input_like_the_http_app(
    store: InMemoryOnline, body: Any, status: int, detail: str
) -> None:
    result = make_handler(store, max_entities=3)(event("POST", "/features", body), None)
    assert result["statusCode"] == status
    text = json.loads(result["body"])["detail"]
    assert detail in text
    assert "\n" not in text


def test_the_lambda_health_and_unknown_routes(store: InMemoryOnline) -> None:
    handler = make_handler(store, max_entities=3, feature_sets=["customer_txn:v1"])
    health = handler(event("GET", "/health"), None)
    assert (health["statusCode"], json.loads(health["body"])["status"]) == (200, "ok")
    assert handler(event("GET", "/features"), None)["statusCode"] == 405
    assert handler(event("POST", "/other", {}), None)["statusCode"] == 404


class BrokenOnline(InMemoryOnline):
    def get_online_features(
        self, entities: pl.DataFrame, features: list[str], *, at: datetime | None = None
    ) -> pl.DataFrame:
        raise RuntimeError(f"store down while reading {entities.to_dicts()}")


def test_a_failing_store_is_a_500_naming_the_request_id_and_not_the_entities(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(BrokenOnline(), max_entities=3), raise_server_exceptions=False)
    with caplog.at_level(logging.INFO, logger="featurelake.serve"):
        response = post(client, {"entities": [{"customer_id": KNOWN}], "features": ["customer_txn:v1"]})
    assert response.status_code == 500
    assert response.headers[REQUEST_ID_HEADER] in response.json()["detail"]
    (line,) = [r.fields for r in caplog.records if r.getMessage() == "request"]  # type: ignore[attr-defined]
    assert (line["status"], line["error"]) == (500, "RuntimeError")
    logged = [json.loads(JsonLogFormatter().format(r)) for r in caplog.records if r.name == "featurelake.serve"]
    assert logged[0]["message"] == "request failed"
    assert "get_online_features" in logged[0]["stack"]
    assert KNOWN not in json.dumps(logged)


def test_announcement_summary_names_the_tables_and_counts() -> None:
    from featurelake.core.events import OnlineStoreMaterialized
    from featurelake.serve.announce import materialized_markdown, online_store_resource_id

    payload = OnlineStoreMaterialized(
        feature_set="customer_txn",
        feature_set_version=1,
        table_uri="s3://lake/features/customer_txn/v1",
        delta_version=4,
        online_table="featurelake-online-customer_txn-v1",
        entities_considered=10,
        items_written=7,
        items_skipped=3,
        mode="incremental",
    )
    text = materialized_markdown(payload)
    assert "customer_txn:v1" in text
    assert "Delta version 4" in text
    assert "| items written | 7 |" in text
    assert "| items skipped (store already as new or newer) | 3 |" in text
    assert (
        online_store_resource_id(payload.online_table) == "featurelake.online-store.featurelake-online-customer_txn-v1"
    )

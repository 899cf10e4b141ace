"""The feature service as a Lambda behind a Function URL or an API Gateway HTTP API (payload 2.0).

The same routes, validation, one-line errors and ``answer`` as the FastAPI app, without an ASGI
server in the function: the event is routed here and the request model validated directly.
The function's entry point builds the handler once per container (``featurelake.cli.serving``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from featurelake.serve.api import FeaturesRequest, OnlineFeatures, RequestError, answer
from featurelake.serve.http import REQUEST_ID_HEADER, log_request, request_id

LambdaHandler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def make_handler(store: OnlineFeatures, *, max_entities: int, feature_sets: list[str] | None = None) -> LambdaHandler:
    """A Lambda handler serving ``POST /features`` and ``GET /health`` from ``store``."""

    def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        rid = request_id(headers.get(REQUEST_ID_HEADER.lower()))
        http = event.get("requestContext", {}).get("http", {})
        method, path = str(http.get("method", "")).upper(), str(event.get("rawPath") or http.get("path", ""))
        fields: dict[str, Any] = {"request_id": rid, "method": method, "path": path}
        status, body = _route(store, max_entities, feature_sets or [], method, path, event, fields)
        latency = round((time.perf_counter() - started) * 1000, 3)
        log_request({**fields, "status": status, "latency_ms": latency})
        return {
            "statusCode": status,
            "headers": {"content-type": "application/json", REQUEST_ID_HEADER: rid},
            "body": json.dumps(body, default=str),
        }

    return handler


def _route(
    store: OnlineFeatures,
    max_entities: int,
    feature_sets: list[str],
    method: str,
    path: str,
    event: Mapping[str, Any],
    fields: dict[str, Any],
) -> tuple[int, Any]:
    """The status and JSON body of one request; refusals are one-line ``detail`` like the HTTP app's."""
    if path == "/health" and method == "GET":
        return 200, {"status": "ok", "feature_sets": sorted(feature_sets)}
    if path != "/features":
        return 404, {"detail": f"no route {path}: use POST /features or GET /health"}
    if method != "POST":
        return 405, {"detail": f"{method} /features is not allowed: use POST with a JSON body"}
    try:
        request = FeaturesRequest.model_validate_json(_body(event))
        fields.update(entities=len(request.entities), features=request.features)
        response = answer(store, request, max_entities)
    except ValidationError as error:
        fields["error"] = detail = _validation_detail(error)
        return 422, {"detail": detail}
    except RequestError as error:
        fields["error"] = error.detail
        return error.status, {"detail": error.detail}
    fields["statuses"] = response.status_counts()
    return 200, response.model_dump(mode="json")


def _body(event: Mapping[str, Any]) -> str:
    """The request body as text (Function URLs base64-encode bodies they consider binary)."""
    body = event.get("body") or ""
    return base64.b64decode(body).decode() if event.get("isBase64Encoded") else str(body)


def _validation_detail(error: ValidationError) -> str:
    """Pydantic's errors as one line, located like FastAPI's (``body.entities.0...``)."""
    parts = [f"{'.'.join(('body', *(str(p) for p in e['loc'])))}: {e['msg']}" for e in error.errors()]
    return " ".join("; ".join(parts).split())

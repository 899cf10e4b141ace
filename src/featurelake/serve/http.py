"""The HTTP feature service: ``POST /features``, ``GET /health``, OpenAPI at ``/docs``.

Every refusal is a 4xx whose ``detail`` is one line (the validation errors FastAPI would list
are joined into one sentence), so a client log shows what to fix. Each request is logged as one
JSON object with its id (the caller's ``X-Request-ID`` or a new one, echoed back) and latency.
Logs carry counts and statuses, never entity keys or feature values: keys and features may be
personal data (hashed e-mails, amounts), and a log is the wrong place for them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from featurelake.serve.api import ErrorDetail, FeaturesRequest, FeaturesResponse, OnlineFeatures, RequestError, answer

LOGGER = logging.getLogger("featurelake.serve")
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        fields = getattr(record, "fields", {})
        line = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name}
        return json.dumps({**line, "message": record.getMessage(), **fields}, default=str)


def configure_json_logs(level: int = logging.INFO) -> None:
    """Send the service's log records to stderr as JSON lines (the CLI and Lambda call this once)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    LOGGER.handlers = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False


def request_id(supplied: str | None) -> str:
    """The caller's request id when it is a plain token, else a new one (a header must not forge log lines)."""
    if supplied and _SAFE_REQUEST_ID.match(supplied):
        return supplied
    return uuid.uuid4().hex


def log_request(fields: dict[str, Any]) -> None:
    """One structured line per request (what was asked, how it went, how long it took; no values)."""
    level = logging.WARNING if int(fields.get("status", 200)) >= 500 else logging.INFO
    LOGGER.log(level, "request", extra={"fields": fields})


def validation_detail(error: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line: ``body.entities.0.customer_id: ...; ...``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return " ".join("; ".join(parts).split())


def create_app(store: OnlineFeatures, *, max_entities: int, feature_sets: list[str] | None = None) -> FastAPI:
    """The service over a feature store's online path; ``feature_sets`` are listed by ``/health``."""
    app = FastAPI(
        title="featurelake features",
        description="Online feature values with their event time, Delta version and status.",
        version="1",
    )

    @app.middleware("http")
    async def log_each_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        request.state.request_id = request_id(request.headers.get(REQUEST_ID_HEADER))
        request.state.log = {}
        try:
            response = await call_next(request)
        except Exception as error:  # a bug or an unreachable store: its type and stack, not its message
            # The message may quote keys or values (personal data): the stack says where it failed.
            stack = "".join(traceback.format_tb(error.__traceback__))
            LOGGER.error("request failed", extra={"fields": {"request_id": request.state.request_id, "stack": stack}})
            request.state.log["error"] = type(error).__name__
            detail = f"internal error ({type(error).__name__}); quote request id {request.state.request_id}"
            response = JSONResponse({"detail": detail}, status_code=500)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        log_request(
            {
                "request_id": request.state.request_id,
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                **request.state.log,
            }
        )
        return response

    @app.exception_handler(RequestValidationError)
    async def one_line_validation(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = validation_detail(error)
        request.state.log["error"] = detail
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RequestError)
    async def refusal(request: Request, error: RequestError) -> JSONResponse:
        request.state.log["error"] = error.detail
        return JSONResponse({"detail": error.detail}, status_code=error.status)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness: the process answers and knows these feature sets."""
        return {"status": "ok", "feature_sets": sorted(feature_sets or [])}

    @app.post(
        "/features",
        responses={
            400: {"model": ErrorDetail, "description": "an unknown or malformed reference, a missing or mistyped key"},
            413: {"model": ErrorDetail, "description": "more entities than the service's limit"},
            422: {"model": ErrorDetail, "description": "a body that does not match the request schema"},
        },
    )
    def features(body: FeaturesRequest, request: Request) -> FeaturesResponse:
        """Feature values for a batch of entities; unknown entities get nulls and status unknown_entity."""
        request.state.log.update(entities=len(body.entities), features=body.features)
        response = answer(store, body, max_entities)
        request.state.log["statuses"] = response.status_counts()
        return response

    return app

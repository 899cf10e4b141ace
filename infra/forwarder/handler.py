"""AWS Lambda: forward S3 "Object Created" events (via EventBridge) to Prefect as ``featurelake.raw-object.landed``.

Why this exists: on AWS the raw bucket tells us about new objects through EventBridge, and Prefect's reactive
automations (not a polling loop) start the ingest flow. This function is the bridge: it turns the S3 event into
exactly the Prefect event the library's watcher emits for the same object version (``featurelake.core.events``), so
whichever of the two paths reports an object first wins and the other collapses into it (same deterministic id).

It ships to Lambda alone, so it imports only the standard library (and boto3, which the Lambda Python runtime
provides, and only when the API key comes from Secrets Manager). The few lines of id logic are therefore
duplicated from ``featurelake.core.events``; ``tests/integration/test_forwarder.py`` proves both give the same ids.

Accepted inputs:

* an EventBridge event (``source`` ``aws.s3``, ``detail-type`` ``Object Created``), as delivered by a rule whose
  target is this function;
* an SQS batch (``Records`` with ``eventSource`` ``aws:sqs``) whose bodies are such EventBridge events, as
  delivered when the rule targets a queue that this function consumes; all objects go to Prefect in one request.

Configuration (environment): ``PREFECT_API_URL`` and one of ``PREFECT_API_KEY_SECRET_ID`` (preferred),
``PREFECT_API_KEY`` or ``PREFECT_API_AUTH_STRING``; see ``README.md`` next to this file.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

# --- duplicated from featurelake.core.events (keep in sync; the integration test compares them) -------------------

RAW_OBJECT_LANDED = "featurelake.raw-object.landed"
_NAMESPACE = uuid.UUID("6f1c6a52-2c1f-4b8e-9a57-6d2a7f0c1e11")


def raw_object_resource_id(bucket: str, key: str) -> str:
    """The Prefect resource id of a raw object; automations match on it, so it must equal the watcher's."""
    return f"featurelake.raw-object.{bucket}/{key}"


def raw_object_source(key: str) -> str:
    """The source a raw key belongs to (its first path segment), which selects the ingest contract."""
    return key.split("/", 1)[0]


def raw_object_event_id(bucket: str, key: str, etag: str) -> uuid.UUID:
    """The event id of one object version: uuid5 of what happened, so the watcher's event and ours collapse."""
    discriminator = etag.strip('"')
    return uuid.uuid5(_NAMESPACE, f"{RAW_OBJECT_LANDED}|{raw_object_resource_id(bucket, key)}|{discriminator}")


# --- configuration -----------------------------------------------------------------------------------------------

logger = logging.getLogger("featurelake.forwarder")
# The Lambda runtime leaves the root logger at WARNING; one INFO line per invocation is what we want in CloudWatch.
logger.setLevel(logging.INFO)

_S3_SOURCE = "aws.s3"
_OBJECT_CREATED = "Object Created"
_USER_AGENT = "featurelake-forwarder/1"
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_SECONDS = 10.0

# Secret values are read once per container (cold start), keyed by secret id, never logged.
_SECRET_CACHE: dict[str, str] = {}


class ForwardError(RuntimeError):
    """Prefect did not accept the events; raised so Lambda's own retries and the DLQ / failure destination act.

    The message names the HTTP status, the URL (without credentials) and the objects, never the API key.
    """


class _SecretsClient(Protocol):
    """The one Secrets Manager call we make (typed locally: the secretsmanager stubs are not a dependency)."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...  # noqa: N803 - boto3's argument name


@dataclass(frozen=True)
class Config:
    """Where and how to post: the events endpoint, the Authorization header value, retry and decoding policy."""

    events_url: str
    authorization: str | None
    max_attempts: int
    backoff_seconds: float
    timeout_seconds: float
    decode_keys: bool

    def __repr__(self) -> str:
        # The default dataclass repr would print the credential if someone logs the config.
        return (
            f"Config(events_url={redact_url(self.events_url)!r}, authorization={'***' if self.authorization else None},"
            f" max_attempts={self.max_attempts}, backoff_seconds={self.backoff_seconds},"
            f" timeout_seconds={self.timeout_seconds}, decode_keys={self.decode_keys})"
        )


def _default_secrets_client() -> _SecretsClient:
    import boto3  # the Lambda runtime has it; imported lazily so the plain-env setups don't pay for it

    return cast(_SecretsClient, boto3.client("secretsmanager"))


def _read_secret(secret_id: str, client_factory: Callable[[], _SecretsClient]) -> str:
    """The API key stored as the secret's plain SecretString, fetched once per container."""
    cached = _SECRET_CACHE.get(secret_id)
    if cached is not None:
        return cached
    response = client_factory().get_secret_value(SecretId=secret_id)
    value = response.get("SecretString")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"secret {secret_id!r} has no SecretString; store the Prefect API key as plain text")
    _SECRET_CACHE[secret_id] = value.strip()
    return _SECRET_CACHE[secret_id]


def load_config(
    environ: Mapping[str, str] | None = None,
    secrets_client_factory: Callable[[], _SecretsClient] = _default_secrets_client,
) -> Config:
    """Read the configuration from the environment (on every invocation; only the secret is cached).

    Auth precedence mirrors the Prefect client: an API key (from Secrets Manager, else from the environment) is
    sent as a Bearer token (Prefect Cloud); otherwise ``PREFECT_API_AUTH_STRING`` (``user:pass``) as HTTP Basic
    (a self-hosted server with ``PREFECT_SERVER_API_AUTH_STRING``), or the ``user:pass@`` of the URL;
    otherwise nothing (an open self-hosted server).
    """
    env = os.environ if environ is None else environ
    api_url = env.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not api_url:
        raise ValueError(
            "PREFECT_API_URL is not set (e.g. http://prefect.internal:4200/api or "
            "https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace>)"
        )
    parts = urllib.parse.urlsplit(api_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"PREFECT_API_URL must be an http(s) URL, got {redact_url(api_url)!r}")
    # urllib cannot send "user:pass@host" itself; take it out of the URL and use it as Basic auth below.
    url_auth = (
        f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
        if parts.username is not None
        else ""
    )

    authorization: str | None = None
    secret_id = env.get("PREFECT_API_KEY_SECRET_ID", "").strip()
    api_key = env.get("PREFECT_API_KEY", "").strip()
    auth_string = env.get("PREFECT_API_AUTH_STRING", "").strip()
    if secret_id:
        authorization = f"Bearer {_read_secret(secret_id, secrets_client_factory)}"
    elif api_key:
        authorization = f"Bearer {api_key}"
    elif auth_string or url_auth:
        authorization = "Basic " + base64.b64encode((auth_string or url_auth).encode()).decode()

    encoding = env.get("FORWARDER_S3_KEY_ENCODING", "url").strip().lower()
    if encoding not in {"url", "none"}:
        raise ValueError(f"FORWARDER_S3_KEY_ENCODING must be 'url' or 'none', got {encoding!r}")

    return Config(
        events_url=f"{redact_url(api_url)}/events",
        authorization=authorization,
        max_attempts=max(1, int(env.get("FORWARDER_MAX_ATTEMPTS", "4"))),
        backoff_seconds=max(0.0, float(env.get("FORWARDER_BACKOFF_SECONDS", "0.5"))),
        timeout_seconds=max(0.1, float(env.get("FORWARDER_HTTP_TIMEOUT_SECONDS", "10"))),
        decode_keys=encoding == "url",
    )


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment, so it can go into errors and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


# --- S3 event -> Prefect event -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedObject:
    """One object version taken from an S3 "Object Created" event (key already decoded)."""

    bucket: str
    key: str
    etag: str
    size: int
    s3_event_time: str | None

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` for log lines and error messages."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_folder_marker(self) -> bool:
        """Console "Create folder" writes a zero-byte ``prefix/`` object: not data, nothing to ingest."""
        return self.key.endswith("/")


def decode_s3_key(raw_key: str) -> str:
    """Undo the form-URL-encoding of S3 event keys (space -> ``+``, other specials -> ``%xx``).

    Finding: S3's classic notification format documents it explicitly ("The object key name value is URL
    encoded. For example, 'red flower.jpg' becomes 'red+flower.jpg'",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html). The EventBridge
    message-structure page (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html) documents
    ``detail.object.key`` without saying either way. AWS's own Lambda Powertools decodes it the same way for
    EventBridge (``S3EventBridgeNotificationObject.key`` returns ``unquote_plus(self["key"])``,
    aws-powertools/powertools-lambda-python, ``utilities/data_classes/s3_event.py``), so we do too.
    ``unquote_plus`` is the exact inverse of the form encoding: a literal ``+`` in a key arrives as ``%2B`` and
    comes back as ``+``. Caveat: a public example of a real EventBridge event carries ``:`` unencoded, so if a
    bucket's events turn out to carry raw keys, set ``FORWARDER_S3_KEY_ENCODING=none`` (see README: how to check).
    """
    return urllib.parse.unquote_plus(raw_key, encoding="utf-8", errors="strict")


def _require(mapping: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or name not in mapping or mapping[name] in (None, ""):
        raise ValueError(f"not an S3 'Object Created' EventBridge event: {where}.{name} is missing")
    return mapping[name]


def parse_object_created(event: Mapping[str, Any], decode_keys: bool = True) -> LandedObject:
    """Validate an EventBridge event and extract the object; anything but aws.s3 "Object Created" is a ValueError.

    A wrong event type means the EventBridge rule is misconfigured; failing loudly (not skipping) gets it noticed.
    """
    if not isinstance(event, Mapping):
        raise ValueError(f"expected an EventBridge event object, got {type(event).__name__}")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != _S3_SOURCE or detail_type != _OBJECT_CREATED:
        raise ValueError(
            f"not an S3 'Object Created' EventBridge event (source={source!r}, detail-type={detail_type!r}); "
            f"the EventBridge rule must match source 'aws.s3' and detail-type 'Object Created'"
        )
    detail = _require(event, "detail", "event")
    bucket = _require(_require(detail, "bucket", "detail"), "name", "detail.bucket")
    obj = _require(detail, "object", "detail")
    raw_key = _require(obj, "key", "detail.object")
    etag = _require(obj, "etag", "detail.object")
    size = _require(obj, "size", "detail.object")
    if not all(isinstance(v, str) for v in (bucket, raw_key, etag)):
        raise ValueError("not an S3 'Object Created' EventBridge event: bucket, key and etag must be strings")
    try:
        size_int = int(size)
    except (TypeError, ValueError):
        raise ValueError(f"not an S3 'Object Created' EventBridge event: detail.object.size={size!r}") from None
    key = decode_s3_key(raw_key) if decode_keys else raw_key
    event_time = event.get("time")
    return LandedObject(
        bucket=bucket,
        key=key,
        etag=etag.strip('"'),
        size=size_int,
        s3_event_time=event_time if isinstance(event_time, str) else None,
    )


def build_prefect_event(obj: LandedObject, occurred: datetime | None = None) -> dict[str, Any]:
    """The JSON body item for ``POST /events`` (Prefect's server ``Event`` schema), identical to the watcher's.

    ``occurred`` is when we forward, not the S3 event time: reactive triggers ignore events older than their
    current bucket as "late" (prefect/server/events/triggers.py), and EventBridge / SQS retries can be minutes
    behind. The S3 time goes to the Lambda log line instead, keeping the resource identical to the watcher's.
    """
    when = occurred or datetime.now(UTC)
    resource_id = raw_object_resource_id(obj.bucket, obj.key)
    return {
        "id": str(raw_object_event_id(obj.bucket, obj.key, obj.etag)),
        "event": RAW_OBJECT_LANDED,
        "occurred": when.astimezone(UTC).isoformat(),
        "resource": {
            "prefect.resource.id": resource_id,
            "featurelake.source": raw_object_source(obj.key),
            "featurelake.bucket": obj.bucket,
            "featurelake.etag": obj.etag,
        },
        "related": [],
        # Exactly the fields of featurelake.core.events.RawObjectLanded.
        "payload": {
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "size": obj.size,
            "source": raw_object_source(obj.key),
        },
    }


# --- HTTP ------------------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as an error: following it would turn the POST into a GET (or drop the auth header)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _describe(objects: Sequence[LandedObject]) -> str:
    shown = ", ".join(o.uri for o in objects[:5])
    return shown + (f" and {len(objects) - 5} more" if len(objects) > 5 else "")


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return min(float(value), _MAX_RETRY_AFTER_SECONDS) if value is not None else None
    except ValueError:
        return None  # an HTTP date; fall back to our own backoff


def post_events(events: Sequence[Mapping[str, Any]], objects: Sequence[LandedObject], config: Config) -> int:
    """POST the events in one request; retry connection errors, 408/429/5xx with exponential backoff.

    The attempts are few on purpose: after them the invocation fails and Lambda's asynchronous retries, then the
    DLQ / on-failure destination (or SQS redrive), take over, which is safe because the ids deduplicate.
    Returns the HTTP status of the accepted request.
    """
    body = json.dumps(list(events)).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": _USER_AGENT}
    if config.authorization:
        headers["Authorization"] = config.authorization
    target = f"POST {redact_url(config.events_url)}"
    last_problem = "no attempt made"
    for attempt in range(1, config.max_attempts + 1):
        delay = config.backoff_seconds * 2 ** (attempt - 1) + random.uniform(0, config.backoff_seconds)
        request = urllib.request.Request(config.events_url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=config.timeout_seconds) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            detail = error.read(500).decode("utf-8", "replace").strip()
            last_problem = f"HTTP {error.code} from {target}" + (f": {detail}" if detail else "")
            if error.code not in _RETRYABLE_STATUS:
                hint = " (check PREFECT_API_URL and the API key / auth string)" if error.code in {401, 403, 404} else ""
                raise ForwardError(
                    f"Prefect API rejected {len(events)} event(s) for {_describe(objects)}: {last_problem}{hint}"
                ) from None
            retry_after = _retry_after(error)
            if retry_after is not None:
                delay = retry_after
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            last_problem = f"{type(error).__name__} on {target}: {reason}"
        if attempt < config.max_attempts:
            logger.warning(
                "attempt %d/%d failed (%s); retrying in %.2fs", attempt, config.max_attempts, last_problem, delay
            )
            time.sleep(delay)
    raise ForwardError(
        f"could not deliver {len(events)} event(s) for {_describe(objects)} "
        f"after {config.max_attempts} attempt(s): {last_problem}"
    )


# --- Lambda entry point --------------------------------------------------------------------------------------------


def _is_sqs_batch(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records
    )


def _forward_one(event: Mapping[str, Any], config: Config) -> dict[str, Any]:
    obj = parse_object_created(event, decode_keys=config.decode_keys)
    if obj.is_folder_marker:
        result: dict[str, Any] = {"status": "skipped", "reason": "folder marker", "object": obj.uri}
    else:
        prefect_event = build_prefect_event(obj)
        post_events([prefect_event], [obj], config)
        result = {
            "status": "forwarded",
            "event_id": prefect_event["id"],
            "object": obj.uri,
            "s3_event_time": obj.s3_event_time,
        }
    logger.info("%s", json.dumps(result))
    return result


def _forward_sqs_batch(records: Sequence[Mapping[str, Any]], config: Config) -> dict[str, Any]:
    """Post every valid record in one request; report invalid records as batch item failures.

    Invalid records (not JSON, not aws.s3 Object Created) are returned in ``batchItemFailures`` so that, with
    ``ReportBatchItemFailures`` enabled on the event source mapping, only they go back to the queue and on to its
    DLQ: bad input must not disappear, nor block the good records. A failed POST fails the whole batch.
    """
    objects: list[LandedObject] = []
    skipped: list[str] = []
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            body = json.loads(record.get("body") or "")
            obj = parse_object_created(body, decode_keys=config.decode_keys)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            logger.error("SQS message %s rejected: %s", message_id, error)
            failures.append({"itemIdentifier": message_id})
            continue
        if obj.is_folder_marker:
            skipped.append(obj.uri)
        else:
            objects.append(obj)

    occurred = datetime.now(UTC)
    by_id: dict[str, dict[str, Any]] = {}
    for obj in objects:  # a redelivered message may repeat an object: one event per id is enough
        prefect_event = build_prefect_event(obj, occurred)
        by_id.setdefault(prefect_event["id"], prefect_event)
    if by_id:
        post_events(list(by_id.values()), objects, config)
    result: dict[str, Any] = {
        "status": "forwarded" if by_id else "skipped",
        "event_ids": list(by_id),
        "skipped": skipped,
        "batchItemFailures": failures,
    }
    logger.info("%s", json.dumps(result))
    return result


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """Lambda entry point: forward one EventBridge event, or an SQS batch of them, to the Prefect events API.

    Returns a small summary for the Lambda log (``forwarded`` with the event id, or ``skipped`` for folder
    markers); raises ValueError for events that are not S3 "Object Created" and ForwardError when Prefect does not
    accept the event, so that Lambda's retry / DLQ machinery sees the failure.
    """
    config = load_config()
    if isinstance(event, Mapping) and "Records" in event:
        if not _is_sqs_batch(event):
            raise ValueError(
                "got a 'Records' event that is not an SQS batch (a classic S3 notification?); this forwarder "
                "expects EventBridge 'Object Created' events, directly or through an SQS queue"
            )
        return _forward_sqs_batch(event["Records"], config)
    return _forward_one(event, config)

"""featurelake's side of ``bench/online.py``: materialize, in-process and HTTP latency, raw boto3.

Runs in featurelake's environment, in a child process of its own (imported by ``online.py``'s
children only: the parent never imports polars or featurelake).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import ROOT
from online import BATCH, KEY, REF, latencies

SERVER_START_TIMEOUT = 120.0


def run(data_dir: Path, out_dir: Path, endpoint: str, requests: dict[str, Any], warmup: int) -> dict[str, Any]:
    """Materialize (full mode, timed once), then in-process and HTTP latency."""
    import polars as pl

    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import Settings

    settings = Settings(lake_uri=str(data_dir / "lake"), s3_endpoint_url=endpoint)
    store = DeltaStore(settings)
    feature_store, materialized = materialize(store, settings, requests["rows"])
    at = datetime.fromtimestamp(requests["at_epoch_s"], UTC)

    def ask(keys: list[str]) -> pl.DataFrame:
        return feature_store.get_online_features(pl.DataFrame({KEY: keys}), [REF], at=at)

    sample = ask(requests["batches"][0])
    checks = {"statuses": sample.select(pl.col("^.*__status$").value_counts()).to_dicts(), "columns": sample.columns}
    (out_dir / "featurelake-sample.json").write_text(sample.write_json())
    in_process = {
        "one_entity": latencies(lambda key: ask([key]), requests["single"], warmup),
        f"{BATCH}_entities": latencies(ask, requests["batches"], warmup),
    }
    print(f"[featurelake] in-process: {json.dumps(in_process)}", flush=True)
    served = http_latency(settings, requests, warmup)
    print(f"[featurelake] HTTP: {json.dumps(served)}", flush=True)
    return {"materialize": materialized, "in_process": in_process, "http": served, "checks": checks}


def materialize(store: Any, settings: Any, rows: int) -> tuple[Any, dict[str, Any]]:
    """Time featurelake's full materialization of the published version end to end, into an empty table.

    ``serve.materialize.materialize``: the lease, the Delta read of the version, the latest row per
    entity, item encoding, the BatchGetItem check and the BatchWriteItem writes. The preparation
    alone (read + latest + encoding) is timed too, to show what is featurelake's and what is moto's.
    """
    from featurelake.core.fingerprint import fingerprint
    from featurelake.core.online import to_items
    from featurelake.io.delta.feature_tables import read_feature_table
    from featurelake.serve.materialize import materialize as materialize_set
    from features.customer_txn import CUSTOMER_TXN

    spec = CUSTOMER_TXN
    feature_store, online = online_feature_store(store, settings)
    version = store.version(spec.table_path)
    started, cpu = time.perf_counter(), time.process_time()
    frame = read_feature_table(store, spec, delta_version=version).frame
    latest = frame.unique(list(spec.entity_keys), keep="last")
    to_items(
        latest, spec.entity_keys, spec.event_time, spec.feature_names,
        delta_version=version, fingerprint=fingerprint(spec), materialized_at=datetime.now(UTC),
    )  # fmt: skip
    prepare = {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}
    del frame, latest
    started, cpu = time.perf_counter(), time.process_time()
    result = materialize_set(store, online, spec, delta_version=version, mode="full")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    counts = result_counts(result)
    items = int(counts["items_written"])
    record = {"rows": rows, "items": items, "prepare": prepare, "result": counts, "estimated": False}
    record |= {"seconds": seconds, "cpu_seconds": cpu_seconds}
    record |= {"rows_per_s": rows / seconds, "items_per_s": items / seconds}
    record["prepare_rows_per_s"] = rows / prepare["seconds"]
    print(f"[featurelake] materialize: {json.dumps(record, default=str)}", flush=True)
    return feature_store, record


def online_feature_store(store: Any, settings: Any) -> tuple[Any, Any]:
    """featurelake's FeatureStore over the lake with its DynamoDB online adapter (helper A's API)."""
    from featurelake.io.aws.online_store import OnlineStore
    from featurelake.retrieve.featurestore import FeatureStore
    from features.customer_txn import CUSTOMER_TXN

    online = OnlineStore(settings)
    return FeatureStore(store, [CUSTOMER_TXN], online=online), online


def result_counts(result: Any) -> dict[str, Any]:
    """A MaterializeResult's fields as a plain dict (a dataclass or a pydantic model)."""
    if hasattr(result, "model_dump"):
        return dict(result.model_dump())
    if hasattr(result, "__dataclass_fields__"):
        return {name: getattr(result, name) for name in result.__dataclass_fields__}
    return {"result": repr(result)}


# --------------------------------------------------------------------------------------------
# HTTP: ``featurelake serve-features`` in its own process, one keep-alive connection.
# --------------------------------------------------------------------------------------------


def http_latency(settings: Any, requests: dict[str, Any], warmup: int) -> dict[str, Any]:
    """Start the service, time the same requests as POST /features, stop it."""
    port = free_port()
    env = {
        **os.environ,
        "FEATURELAKE_LAKE_URI": settings.lake_uri,
        "FEATURELAKE_S3_ENDPOINT_URL": settings.s3_endpoint_url,
    }
    command = serve_command()
    server = subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        connection = wait_for_health(port, server)
        at = datetime.fromtimestamp(requests["at_epoch_s"], UTC).isoformat()

        def post(keys: list[str]) -> bytes:
            body = json.dumps({"entities": [{KEY: k} for k in keys], "features": [REF], "at": at})
            connection.request("POST", "/features", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise SystemExit(f"POST /features answered {response.status}: {payload[:300]!r}")
            return payload

        first = json.loads(post(requests["batches"][0]))
        statuses = Counter(m["status"] for r in first["results"] for m in r["metadata"].values())
        return {
            "command": " ".join(command),
            "statuses_first_batch": dict(statuses),
            "one_entity": latencies(lambda key: post([key]), requests["single"], warmup),
            f"{BATCH}_entities": latencies(post, requests["batches"], warmup),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve_command() -> list[str]:
    """``featurelake serve-features``, as a team runs it."""
    return [str(Path(sys.executable).parent / "featurelake"), "serve-features", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_health(port: int, server: subprocess.Popen[bytes]) -> http.client.HTTPConnection:
    """A connection once GET /health answers 200 (the service's start-up is not timed)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"featurelake serve-features exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return connection
            time.sleep(0.2)
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"featurelake serve-features did not answer on port {port} within {SERVER_START_TIMEOUT:.0f} s")


# --------------------------------------------------------------------------------------------
# Raw boto3: what the endpoint costs without any client logic.
# --------------------------------------------------------------------------------------------


RAW_TABLE = "bench-raw-customer_txn-v1"


def raw_boto3(data_dir: Path, endpoint: str, requests: dict[str, Any], warmup: int) -> dict[str, Any]:
    """A table of its own shaped like featurelake's items; BatchWriteItem, GetItem, BatchGetItem of 100 keys.

    The items carry what the plan's items carry (canonical entity key, event time, Delta version,
    fingerprint, the 12 values as a map), written with boto3's plain ``batch_writer`` (25 per
    BatchWriteItem, no conditions): the endpoint's write floor. Independent of featurelake's code.
    """
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    items = latest_items(data_dir)
    client.create_table(
        TableName=RAW_TABLE,
        AttributeDefinitions=[{"AttributeName": "entity", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "entity", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1").Table(RAW_TABLE)
    started = time.perf_counter()
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    seconds = time.perf_counter() - started
    write = {"items": len(items), "seconds": seconds, "items_per_s": len(items) / seconds}
    print(f"[boto3] BatchWriteItem: {json.dumps(write)}", flush=True)

    def get(value: str) -> None:
        if "Item" not in client.get_item(TableName=RAW_TABLE, Key=raw_key(value)):
            raise SystemExit(f"raw GetItem found no item for {value!r}")

    def batch_get(values: list[str]) -> None:
        wanted: dict[str, Any] = {RAW_TABLE: {"Keys": [raw_key(v) for v in values]}}
        found = 0
        while wanted:
            answer = client.batch_get_item(RequestItems=wanted)
            found += len(answer["Responses"].get(RAW_TABLE, []))
            wanted = answer.get("UnprocessedKeys") or {}
        if found != len(values):
            raise SystemExit(f"raw BatchGetItem found {found} of {len(values)} items")

    return {
        "table": RAW_TABLE,
        "batch_write_item": write,
        "get_item": latencies(get, requests["single"], warmup),
        f"batch_get_item_{BATCH}": latencies(batch_get, requests["batches"], warmup),
    }


def raw_key(value: str) -> dict[str, Any]:
    """The plan's canonical entity key: the key values as a compact JSON list."""
    return {"entity": {"S": json.dumps([value], separators=(",", ":"))}}


def latest_items(data_dir: Path) -> list[dict[str, Any]]:
    """The latest feature row per customer as resource-style items (Decimal numbers)."""
    from decimal import Decimal

    import polars as pl
    from online import TIME

    rows = pl.read_parquet(data_dir / "features.parquet").sort(TIME).group_by(KEY).last()
    features = [c for c in rows.columns if c not in (KEY, TIME)]
    items = []
    for row in rows.iter_rows(named=True):
        values = {f: None if row[f] is None else Decimal(repr(row[f])) for f in features}
        items.append(
            {
                "entity": raw_key(row[KEY])["entity"]["S"],
                "event_time_us": int(row[TIME].timestamp() * 1_000_000),
                "delta_version": 0,
                "fingerprint": "0" * 16,
                "values": values,
                "materialized_at": datetime.now(UTC).isoformat(),
            }
        )
    return items

"""The proof scan finds a subject wherever a copy of it was left, and reports nothing when there is none.

Real moto S3 (versioned raw bucket) and DynamoDB, a real MLflow SQLite store and the suite's
Prefect test server. Each seeded copy is one the scan could only find by doing the work
(decoding compressed parquet, listing old object versions, paging the APIs).
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from pathlib import Path

import mlflow
import polars as pl

from featurelake.core.erasure import Needles
from featurelake.core.pii import hmac_hex
from featurelake.erase.proof import Hit, scan
from featurelake.io.aws.s3 import aws_client
from featurelake.settings import Settings


def _parquet(frame: pl.DataFrame, compression: str) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression=compression, statistics=False)  # type: ignore[arg-type]
    return buffer.getvalue()


def _seed(settings: Settings, value: str, digest: str, tmp_path: Path) -> dict[str, str]:
    """Put one copy of the subject in every system; return a tag per copy → where it went."""
    s3 = aws_client(settings, "s3")
    lake, raw = settings.lake_bucket, settings.raw_bucket
    # A value with a run inside: zstd stores the run as a back-reference, so the whole value is in no plain byte.
    data = pl.DataFrame({"customer_id": [value] * 500 + ["c-other"], "n": list(range(501))})
    blob = _parquet(data, "zstd")
    assert value.encode() not in blob, "seed must hide the value from a byte search"
    s3.put_object(Bucket=lake, Key="silver/txn/part-0.zstd.parquet", Body=blob)
    nested = pl.DataFrame({"row": [{"h": digest, "x": 1}] * 300})
    nested_blob = _parquet(nested, "snappy")
    s3.put_object(Bucket=lake, Key="silver/txn/part-1.snappy.parquet", Body=nested_blob)
    stats = {"add": {"path": "part-0.parquet", "stats": json.dumps({"minValues": {"customer_id": value}})}}
    s3.put_object(Bucket=lake, Key="silver/txn/_delta_log/00000000000000000001.json", Body=json.dumps(stats))
    s3.put_object(Bucket=lake, Key="silver/txn/notes.json.gz", Body=gzip.compress(f'{{"h":"{digest}"}}'.encode()))
    s3.put_object(Bucket=raw, Key="landing/customers.ndjson", Body=f'{{"customer_id":"{value}"}}\n'.encode())
    s3.put_object(Bucket=raw, Key="landing/customers.ndjson", Body=b'{"customer_id":"c-other"}\n')
    dynamo = aws_client(settings, "dynamodb")
    table = f"{settings.online_table_prefix}-proof-{uuid.uuid4().hex[:8]}"
    dynamo.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamo.put_item(TableName=table, Item={"pk": {"S": "row-1"}, "features": {"S": json.dumps({"h": digest})}})
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    experiment = mlflow.create_experiment(f"proof-{uuid.uuid4().hex[:6]}", artifact_location=str(tmp_path / "art"))
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_param("subject", value)
    with mlflow.start_run(experiment_id=experiment) as run2:
        mlflow.log_text(f"train rows include {digest}\n", "samples/rows.txt")
    registry = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    model = f"proof-model-{uuid.uuid4().hex[:6]}"
    registry.create_registered_model(model)
    registry.create_model_version(
        model, f"runs:/{run2.info.run_id}/samples", run_id=run2.info.run_id, tags={"s": digest}
    )
    from prefect import flow, get_run_logger
    from prefect.artifacts import create_markdown_artifact

    @flow
    def leaky() -> None:
        get_run_logger().info("processing customer %s", value)
        create_markdown_artifact(f"| h |\n|---|\n| {digest} |", key=f"proof-{uuid.uuid4().hex[:6]}")

    leaky()
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    emit_event("featurelake.proof.test", resource={"prefect.resource.id": f"featurelake.test.{digest}"})
    EventsWorker.drain_all()
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()  # logs reach the API in the background
    return {"run": run.info.run_id, "run2": run2.info.run_id, "table": table, "model": model}


def test_every_copy_is_found_with_its_system_and_kind(settings: Settings, tmp_path: Path) -> None:
    value = f"cust-{'q' * 24}{uuid.uuid4().hex[:6]}"
    digest = hmac_hex(b"k" * 32, value)
    where = _seed(settings, value, digest, tmp_path)
    report = scan(settings, Needles(value, frozenset({digest})))
    found = {(h.system, h.location, h.kind) for h in report.hits}
    lake, _raw = f"s3://{settings.lake_bucket}", f"s3://{settings.raw_bucket}"
    assert ("lake", f"{lake}/silver/txn/part-0.zstd.parquet#customer_id", "value") in found
    assert ("lake", f"{lake}/silver/txn/part-0.zstd.parquet", "value") not in found  # only decoding finds it
    assert ("lake", f"{lake}/silver/txn/part-1.snappy.parquet#row", "hash") in found
    assert ("lake", f"{lake}/silver/txn/_delta_log/00000000000000000001.json", "value") in found
    assert ("lake", f"{lake}/silver/txn/notes.json.gz", "hash") in found
    raw_hits = [h for h in report.hits if h.system == "raw"]
    assert [h.kind for h in raw_hits] == ["value"]
    assert "?versionId=" in raw_hits[0].location
    assert any(h.system == "online" and h.location.startswith(where["table"]) and h.kind == "hash" for h in report.hits)
    assert Hit("mlflow", f"mlflow run {where['run']} params/tags", "value") in report.hits
    assert Hit("mlflow", f"mlflow run {where['run2']} artifact samples/rows.txt", "hash") in report.hits
    assert any(
        h.system == "prefect" and h.location.startswith("prefect log ") and h.kind == "value" for h in report.hits
    )
    assert any(
        h.system == "prefect" and h.location.startswith("prefect artifact") and h.kind == "hash" for h in report.hits
    )
    assert not report.clean
    text = report.markdown() + json.dumps(report.rows()) + " ".join(report.notes)
    assert value not in text
    assert digest[:20] not in text

    absent = scan(settings, Needles(f"nobody-{uuid.uuid4().hex}", frozenset({hmac_hex(b"k" * 32, "nobody")})))
    assert absent.clean
    assert absent.hits == ()
    assert all(absent.scanned[s] > 0 for s in ("lake", "raw", "online", "mlflow", "prefect")), absent.scanned
    assert "no trace" in absent.markdown()


def test_short_value_matches_whole_cells_only(settings: Settings) -> None:
    s3 = aws_client(settings, "s3")
    frame = pl.DataFrame({"code": ["x7q", "ax7qb", "other"]})
    s3.put_object(Bucket=settings.lake_bucket, Key="t/part.parquet", Body=_parquet(frame, "zstd"))
    s3.put_object(Bucket=settings.lake_bucket, Key="t/log.json", Body=b'{"code": "x7q"}')
    report = scan(settings, Needles("x7q"), include_raw=False)
    assert [(h.system, h.location.rsplit("/", 1)[-1], h.kind) for h in report.hits] == [
        ("lake", "part.parquet#code", "value")
    ]
    assert "raw" not in report.scanned
    assert any("raw value" not in n and "not scanned" in n for n in report.notes)

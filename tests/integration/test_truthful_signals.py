"""What runs say about themselves, checked on the real servers: MLflow's Source and stale uploads.

MLflow (SQLite) must name the flow that made a build or retrain run, not the process Prefect
started it from. Maintenance, on the real S3 emulator, aborts the incomplete multipart uploads a
killed upload leaves behind (a dry run only lists them) and reports them in its table.
"""

from __future__ import annotations

import mlflow
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.io.aws.s3 import s3_client
from featurelake.settings import Settings
from flows.build_features import build_features
from flows.ingest import ingest
from flows.maintain import maintain
from flows.retrain import retrain
from tests.integration.helpers import demo_objects, upload


def test_build_and_retrain_runs_name_their_flow_as_the_source(settings: Settings) -> None:
    upload(settings, demo_objects())
    ingest()
    built = build_features("customer_txn", 1)
    trained = retrain("customer_txn", 1, delta_version=int(str(built["delta_version"])))

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    build_run = client.get_run(str(built["mlflow_run_id"]))
    retrain_run = client.get_run(str(trained["mlflow_run_id"]))

    build_tags, retrain_tags = build_run.data.tags, retrain_run.data.tags
    assert build_tags["mlflow.source.name"] == (
        f"flows/build_features.py:build_features (flow run {build_tags['featurelake.flow_run_id']})"
    )
    assert retrain_tags["mlflow.source.name"] == (
        f"flows/retrain.py:retrain (flow run {retrain_tags['featurelake.flow_run_id']})"
    )
    assert build_tags["mlflow.source.type"] == retrain_tags["mlflow.source.type"] == "JOB"
    assert "engine" not in build_tags["mlflow.source.name"] + retrain_tags["mlflow.source.name"]


def _start_upload(settings: Settings, bucket: str, key: str) -> None:
    """A multipart upload whose writer was killed after its first part: never completed, never aborted."""
    client = s3_client(settings)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 1024)


def _uploads(settings: Settings, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client(settings).list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_maintenance_aborts_stale_incomplete_uploads_and_reports_them(settings: Settings) -> None:
    raw, lake = settings.raw_bucket, settings.lake_bucket
    _start_upload(settings, raw, "transactions/day=2026-11-07/part-0.parquet")
    _start_upload(settings, lake, "bronze/transactions/part-00001-killed.parquet")

    young = CliRunner().invoke(app, ["maintain"], catch_exceptions=False)  # default: a day old before aborting
    assert young.exit_code == 0, young.output
    assert "1 incomplete upload(s) written to less than 24 h ago left alone" in young.output
    dry = {row["table"]: row for row in maintain(dry_run=True, abort_uploads_after_hours=0)}
    assert "would abort incomplete upload" in str(dry[f"s3://{raw}/"]["notes"])
    assert (_uploads(settings, raw), _uploads(settings, lake)) == (  # a dry run aborts nothing
        ["transactions/day=2026-11-07/part-0.parquet"],
        ["bronze/transactions/part-00001-killed.parquet"],
    )

    rows = {row["table"]: row for row in maintain(abort_uploads_after_hours=0)}

    assert _uploads(settings, raw) == _uploads(settings, lake) == []
    raw_row, lake_row = rows[f"s3://{raw}/"], rows[f"s3://{lake}/"]
    assert (raw_row["kind"], raw_row["removed"], raw_row["files"], raw_row["error"]) == ("uploads", 1, "1 → 0", "")
    assert f"aborted incomplete upload s3://{raw}/transactions/day=2026-11-07/part-0.parquet" in str(raw_row["notes"])
    assert f"s3://{lake}/bronze/transactions/part-00001-killed.parquet" in str(lake_row["notes"])
    again = {row["table"]: row for row in maintain(abort_uploads_after_hours=0)}
    assert again[f"s3://{raw}/"]["removed"] == again[f"s3://{lake}/"]["removed"] == 0

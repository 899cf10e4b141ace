"""The CLI against a real local stack (moto S3, the Prefect test server): output, JSON and next steps.

``upload`` says what happens to the objects by asking the Prefect API, not by assuming a watcher:
with a server that answers, the events (or the safety net) take them to ingest; with one that does
not, or none configured, it warns that nothing will ingest them. ``watch --once`` announces what is
pending, and ``list`` reads a registry on S3 and prints it as an aligned table.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.io.aws.raw import list_raw_objects
from featurelake.settings import Settings, get_settings
from tests.integration.helpers import demo_objects

pytestmark = pytest.mark.integration
RUNNER = CliRunner()


@pytest.fixture
def day_file(tmp_path: Path) -> Path:
    """One day of demo transactions as a local parquet file."""
    key = next(k for k in sorted(demo_objects()) if k.startswith("transactions/") and k.endswith(".parquet"))
    path = tmp_path / "day-1.parquet"
    path.write_bytes(demo_objects()[key])
    return path


@pytest.fixture
def refused() -> Iterator[str]:
    """A loopback URL whose port refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api"


def test_upload_names_what_ingests_the_objects(settings: Settings, day_file: Path) -> None:
    result = RUNNER.invoke(app, ["upload", "transactions", str(day_file)])

    assert result.exit_code == 0, result.output
    assert f"uploaded 1 object(s) to s3://{settings.raw_bucket}/transactions/" in result.stdout
    assert "announce them" in result.stdout
    assert "prefect deployment run ingest/ingest" in result.stdout
    assert "warning" not in result.output
    assert [o.key for o in list_raw_objects(settings, "transactions/")] == ["transactions/day-1.parquet"]


def test_upload_works_with_a_lake_on_a_local_path(
    settings: Settings, day_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the quick start's lake: raw objects on the S3 endpoint, Delta tables in a directory
    monkeypatch.setenv("FEATURELAKE_LAKE_URI", str(tmp_path / "lake"))
    get_settings.cache_clear()

    result = RUNNER.invoke(app, ["upload", "transactions", str(day_file)])

    assert result.exit_code == 0, result.output
    assert [o.key for o in list_raw_objects(settings, "transactions/")] == ["transactions/day-1.parquet"]


def test_upload_warns_when_no_prefect_server_answers(
    settings: Settings, day_file: Path, refused: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", refused)

    result = RUNNER.invoke(app, ["upload", "transactions", str(day_file), "--json"])

    assert result.exit_code == 0, result.output  # the objects are uploaded all the same
    assert json.loads(result.stdout) == {"bucket": settings.raw_bucket, "keys": ["transactions/day-1.parquet"]}
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith(f"warning: the Prefect API at {refused} (PREFECT_API_URL) does not answer")
    assert "nothing ingests these objects" in warning
    assert "announce" not in result.output


def test_upload_warns_when_no_prefect_api_is_configured(settings: Settings, day_file: Path) -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = RUNNER.invoke(app, ["upload", "transactions", str(day_file)])

    assert result.exit_code == 0, result.output
    assert "warning: PREFECT_API_URL is not set" in result.stderr
    assert "featurelake demo --stack-only" in result.stderr


def test_watch_announces_pending_objects_and_list_reads_a_registry_on_s3(settings: Settings, day_file: Path) -> None:
    assert RUNNER.invoke(app, ["upload", "transactions", str(day_file)]).exit_code == 0

    watched = RUNNER.invoke(app, ["watch", "--once", "--source", "transactions"])
    assert watched.exit_code == 0, watched.output
    assert f"announced 1 pending object(s) in s3://{settings.raw_bucket}" in watched.stdout

    assert RUNNER.invoke(app, ["apply"]).exit_code == 0
    header, *rows = RUNNER.invoke(app, ["list"]).stdout.splitlines()
    assert header.split()[:3] == ["name", "version", "status"]
    assert sorted(row.split()[0] for row in rows) == ["customer_txn", "merchant_txn"]

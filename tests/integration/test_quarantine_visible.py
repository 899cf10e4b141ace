"""Quarantine you can see, and who keeps re-sent rows: real moto S3, Delta and the test Prefect server.

An ingest with quarantined rows stays Completed but ends in a WARNING, a markdown artifact listing
per object every reason with its count, and a ``featurelake.raw-object.quarantined`` event;
``featurelake quarantine`` lists the same from the lake. Of two objects with the same rows
uploaded within one second, the one uploaded first keeps them, whatever their keys.
"""

from __future__ import annotations

import time
import uuid

import polars as pl
import pytest
import typer
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogWorker
from typer.testing import CliRunner

from featurelake.cli.errors import OneLineErrors
from featurelake.cli.quarantine import quarantine
from featurelake.core import events
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.ingest.bronze import SOURCE_KEY
from featurelake.io.aws.raw import list_raw_objects
from featurelake.io.delta.store import DeltaStore
from featurelake.local import synthetic
from featurelake.settings import Settings, get_settings
from flows.ingest import ingest
from tests.integration.helpers import by_id, demo_objects, upload, wait_for_events

BROKEN, EMPTY = "transactions/late/broken.parquet", "transactions/late/empty.csv"


def _first_parquet_day(objects: dict[str, bytes]) -> str:
    return next(k for k in sorted(objects) if k.startswith("transactions/") and k.endswith(".parquet"))


def _run(sources: list[str] | None = None) -> tuple[list[dict[str, object]], str]:
    state = ingest(sources, return_state=True)
    assert state.is_completed()
    return state.result(), str(state.state_details.flow_run_id)


def _quarantined_event_id(settings: Settings, source: str, keys: list[str]) -> uuid.UUID:
    """The id the run's event must have: from the quarantine table and the object versions the run quarantined."""
    etags = {o.key: o.etag for o in list_raw_objects(settings, f"{source}/")}
    digest = events.objects_digest([(key, etags[key]) for key in keys])
    discriminator = events.at(settings.table_uri(quarantine_path(source)), digest)
    return events.event_id(events.RAW_OBJECT_QUARANTINED, events.quarantine_resource_id(source), discriminator)


def _cli(*args: str) -> tuple[int, str]:
    app = typer.Typer(cls=OneLineErrors)  # the featurelake app's error handling
    app.command()(quarantine)
    app.command("unused")(lambda: None)  # two commands: typer then expects the command's name
    result = CliRunner().invoke(app, ["quarantine", *args])
    return result.exit_code, result.output


def test_a_run_with_quarantined_rows_warns_and_shows_every_reason_with_its_object(settings: Settings) -> None:
    objects = demo_objects()
    original = _first_parquet_day(objects)
    resent = original.replace("part-0", "part-0-resent")
    upload(settings, objects)
    _run(["transactions"])
    upload(settings, {resent: objects[original], BROKEN: b"PAR1 not parquet", EMPTY: b""})

    (row,), flow_run_id = _run(["transactions"])

    copied = pl.read_parquet(objects[original]).height
    assert (row["rows_accepted"], row["rows_quarantined"]) == (0, copied + 2)
    APILogWorker.drain_all()
    run_id = uuid.UUID(flow_run_id)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    messages = [log.message for log in logs]
    assert any(f"{resent} ({copied} rows: 0 accepted, {copied} quarantined)" in m for m in messages)  # after the check
    (warning,) = [log.message for log in logs if log.level == 30]
    assert warning.startswith(f"transactions: {copied + 2} row(s) quarantined from 3 object(s)")
    duplicate = f"duplicate primary key ['txn_id']: already ingested from {original}"
    assert f"  {resent}: {copied} x {duplicate}" in warning.splitlines()
    (report,) = [a for a in artifacts if a.key == "ingest-quarantine"]
    assert report.description == f"{copied + 2} rows quarantined from 3 object(s)"
    assert f"| `{resent}` | `{duplicate}` | {copied} |" in str(report.data)
    assert f"| `{EMPTY}` | `{EMPTY}: is empty (0 bytes)` | 1 |" in str(report.data)
    (summary,) = [a for a in artifacts if a.key == "ingest-summary"]
    assert summary.description is not None
    assert summary.description.endswith(f"; {copied + 2} rows quarantined (see the ingest-quarantine artifact)")

    (event,) = wait_for_events(by_id(_quarantined_event_id(settings, "transactions", [resent, BROKEN, EMPTY])))
    payload = events.RawObjectQuarantined.model_validate(event.payload)
    assert (payload.rows_quarantined, payload.objects_quarantined) == (copied + 2, 3)
    by_key = {o.key: [(r.reason, r.rows) for r in o.reasons] for o in payload.objects}
    assert by_key[resent] == [(duplicate, copied)]
    assert by_key[BROKEN][0][0].startswith(f"{BROKEN}: cannot be parsed")
    assert event.resource.id == events.quarantine_resource_id("transactions")
    assert {r.id for r in event.related if r.role == "raw-object"} >= {
        events.raw_object_resource_id(settings.raw_bucket, resent)
    }

    code, listed = _cli("--source", "transactions")
    assert code == 0, listed
    assert f"{EMPTY}: is empty (0 bytes)" in listed
    assert duplicate in listed


def test_a_lake_that_does_not_answer_is_one_line(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    get_settings.cache_clear()

    code, output = _cli("--source", "transactions")

    assert code == 1
    assert output.startswith("error: the S3 endpoint at http://127.0.0.1:9 (FEATURELAKE_S3_ENDPOINT_URL) does not")
    assert len(output.strip().splitlines()) == 1


def _upload_in_one_second(settings: Settings, first: dict[str, bytes], second: dict[str, bytes]) -> None:
    """Two uploads, each announced as S3 notifies it, starting at a fresh second so that they share it."""
    time.sleep(1.0 - time.time() % 1.0 + 0.02)  # sets up the tie the test is about; no race is waited for
    synthetic.upload(settings, first, announce=True)
    synthetic.upload(settings, second, announce=True)
    listed = {o.key: o for o in list_raw_objects(settings, "transactions/")}
    assert len({listed[k].last_modified for k in (*first, *second)}) == 1  # S3 cannot tell them apart
    ids = [events.raw_object_event_id(settings.raw_bucket, k, listed[k].etag) for k in (*first, *second)]
    assert all(wait_for_events(by_id(i)) for i in ids)  # stored before ingest reads them


@pytest.mark.parametrize("first_sorts", ["before", "after"])
def test_of_two_same_second_copies_the_one_uploaded_first_keeps_the_rows(settings: Settings, first_sorts: str) -> None:
    objects = demo_objects()
    day = objects[_first_parquet_day(objects)]
    early, late = "transactions/b-original.parquet", "transactions/a-copy.parquet"
    if first_sorts == "before":
        early, late = "transactions/a-original.parquet", "transactions/b-copy.parquet"

    _upload_in_one_second(settings, {early: day}, {late: day})
    ingest(["transactions"])

    store = DeltaStore(settings)
    assert set(store.read(bronze_path("transactions"))[SOURCE_KEY]) == {early}
    reasons = store.read(quarantine_path("transactions")).filter(pl.col(SOURCE_KEY) == late)["_reason"]
    assert set(reasons) == {f"duplicate primary key ['txn_id']: already ingested from {early}"}
    assert reasons.len() == pl.read_parquet(day).height

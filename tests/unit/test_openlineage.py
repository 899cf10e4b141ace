"""OpenLineage run events: spec-valid JSON, spec dataset naming, stable run ids, facets."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from featurelake.io.openlineage import lineage_endpoint
from featurelake.lineage.jobs import send_lineage
from featurelake.lineage.openlineage import (
    PRODUCER,
    SCHEMA_URL,
    LineageDataset,
    ParentRun,
    lineage_run_id,
    run_event,
    s3_dataset,
)
from featurelake.settings import Settings

NOW = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
FLOW_RUN = "6d1c9a4e-3b2f-4f7e-8e21-9c0a1b2c3d4e"
JOB = "build_features.customer_txn"
BRONZE = s3_dataset("s3://lake/bronze/transactions", 7, {"txn_id": "String", "amount": "Float64"})
FEATURES = s3_dataset("s3://lake/features/customer_txn/v1/", 3, {"customer_id": "String", "txn_count_7d": "UInt32"})

_FACET = {"type": "object", "required": ["_producer", "_schemaURL"]}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "facets": {"type": "object", "additionalProperties": _FACET},
        "inputFacets": {"type": "object", "additionalProperties": _FACET},
        "outputFacets": {"type": "object", "additionalProperties": _FACET},
    },
}
#: The required structure of a RunEvent in OpenLineage 2-0-2 (BaseEvent + RunEvent, Run, Job, Dataset,
#: BaseFacet), trimmed to what this test can check offline.
RUN_EVENT_2_0_2 = {
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "additionalProperties": _FACET},
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {"facets": {"type": "object", "additionalProperties": _FACET}},
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


def event(event_type: Any = "COMPLETE", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("namespace", "featurelake")
    return run_event(event_type, FLOW_RUN, JOB, [BRONZE], [FEATURES], now=NOW, **kwargs)


@pytest.mark.parametrize("event_type", ["START", "COMPLETE", "FAIL"])
def test_events_satisfy_the_2_0_2_run_event_schema(event_type: Any) -> None:
    body = event(event_type)
    jsonschema.validate(body, RUN_EVENT_2_0_2, format_checker=jsonschema.FormatChecker())
    assert body["eventType"] == event_type
    assert body["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent" == SCHEMA_URL
    assert body["producer"] == PRODUCER
    assert body["job"] == {"namespace": "featurelake", "name": JOB, "facets": body["job"]["facets"]}
    assert body["job"]["facets"]["jobType"]["processingType"] == "BATCH"


def test_every_facet_names_its_producer_and_a_versioned_schema() -> None:
    body = event("FAIL", error="boom", parent=("featurelake", "ingest", "r1"), flow_run_url="http://ui/runs/1")
    facet_maps = [body["run"]["facets"], body["job"]["facets"]]
    facet_maps += [d.get(k, {}) for d in body["inputs"] + body["outputs"] for k in ("facets", "outputFacets")]
    for facets in facet_maps:
        for name, facet in facets.items():
            assert facet["_producer"] == PRODUCER, name
            assert "#/$defs/" in facet["_schemaURL"], name
            assert "/main/" not in facet["_schemaURL"], f"{name}: a schema URL must be immutable"


def test_run_id_is_a_uuid_deterministic_in_the_flow_run_id() -> None:
    start, complete = event("START"), event("COMPLETE")
    run_id = start["run"]["runId"]
    assert uuid.UUID(run_id).version == 5
    assert complete["run"]["runId"] == run_id == lineage_run_id("featurelake", JOB, FLOW_RUN)
    assert start["run"]["facets"]["featurelake_prefectFlowRun"]["flowRunId"] == FLOW_RUN


@pytest.mark.parametrize(
    "other",
    [("featurelake", JOB, "another-flow-run"), ("featurelake", "retrain", FLOW_RUN), ("prod", JOB, FLOW_RUN)],
)
def test_run_id_differs_per_flow_run_job_and_namespace(other: tuple[str, str, str]) -> None:
    assert lineage_run_id(*other) != lineage_run_id("featurelake", JOB, FLOW_RUN)


def test_run_id_is_stable_across_releases() -> None:
    # Pinned: a changed derivation would split one run into two in Marquez after an upgrade.
    assert lineage_run_id("featurelake", "ingest", "r1") == str(
        uuid.uuid5(uuid.UUID("0b7f3c52-6a4e-4d1c-9a1e-3f5d2c8b9e71"), "featurelake|ingest|r1")
    )


def test_parent_facet_names_the_parent_run_as_its_own_events_do() -> None:
    parent_event = run_event("START", "flow-run-9", "ingest", now=NOW, namespace="featurelake")
    child = event("START", parent=ParentRun("featurelake", "ingest", "flow-run-9"))
    facet = child["run"]["facets"]["parent"]
    assert facet["run"] == {"runId": parent_event["run"]["runId"]}
    assert facet["job"] == {"namespace": "featurelake", "name": "ingest"}


def test_s3_datasets_are_named_per_the_naming_spec() -> None:
    assert (FEATURES.namespace, FEATURES.name, FEATURES.version) == ("s3://lake", "features/customer_txn/v1", "3")
    body = event()["outputs"][0]
    assert body["namespace"] == "s3://lake"
    assert body["name"] == "features/customer_txn/v1"
    assert body["facets"]["version"]["datasetVersion"] == "3"
    assert body["facets"]["dataSource"]["uri"] == "s3://lake"


def test_delta_version_zero_is_a_version() -> None:
    first = s3_dataset("s3://lake/bronze/t", 0)
    body = run_event("COMPLETE", FLOW_RUN, JOB, outputs=[first], now=NOW, namespace="featurelake")
    assert body["outputs"][0]["facets"]["version"]["datasetVersion"] == "0"
    unversioned = run_event("START", FLOW_RUN, JOB, [s3_dataset("s3://lake/bronze/t")], now=NOW, namespace="fl")
    assert "version" not in unversioned["inputs"][0]["facets"]


def test_a_local_path_is_a_file_dataset(tmp_path: Any) -> None:
    dataset = s3_dataset(str(tmp_path / "bronze" / "t"))
    assert (dataset.namespace, dataset.name) == ("file", str(tmp_path / "bronze" / "t"))


@pytest.mark.parametrize("uri", ["s3://lake", "s3://lake/", ""])
def test_a_uri_without_a_path_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="names no path"):
        s3_dataset(uri)


def test_schema_facet_lists_fields_in_column_order() -> None:
    fields = event()["inputs"][0]["facets"]["schema"]["fields"]
    assert fields == [{"name": "txn_id", "type": "String"}, {"name": "amount", "type": "Float64"}]


def test_output_row_count_becomes_output_statistics() -> None:
    written = LineageDataset("s3://lake", "features/x/v1", version="4", row_count=120)
    body = run_event("COMPLETE", FLOW_RUN, JOB, [written], [written], now=NOW, namespace="featurelake")
    assert body["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 120
    assert "outputFacets" not in body["inputs"][0]


def test_extra_dataset_facets_pass_through() -> None:
    extra = {"featurelake_suite": {"_producer": PRODUCER, "_schemaURL": "https://x/y.json#/$defs/S", "hash": "ab"}}
    dataset = LineageDataset("s3://lake", "features/x/v1", facets=extra)
    body = run_event("START", FLOW_RUN, JOB, [dataset], now=NOW, namespace="featurelake")
    assert body["inputs"][0]["facets"]["featurelake_suite"]["hash"] == "ab"


def test_fail_carries_the_error_message_facet() -> None:
    facet = event("FAIL", error="validation failed: 3 expectations")["run"]["facets"]["errorMessage"]
    assert facet["message"] == "validation failed: 3 expectations"
    assert facet["programmingLanguage"] == "PYTHON"
    assert facet["_schemaURL"].endswith("ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet")


def test_fail_from_an_exception_carries_its_stack_trace() -> None:
    try:
        raise RuntimeError("table locked")
    except RuntimeError as exc:
        facet = event("FAIL", error=exc)["run"]["facets"]["errorMessage"]
    assert facet["message"] == "RuntimeError: table locked"
    assert "Traceback" in facet["stackTrace"]
    assert "test_fail_from_an_exception" in facet["stackTrace"]


def test_fail_without_a_message_still_explains_itself() -> None:
    assert event("FAIL")["run"]["facets"]["errorMessage"]["message"] == "run failed"


def test_start_and_complete_carry_no_error_facet() -> None:
    assert "errorMessage" not in event("START")["run"]["facets"]
    assert "errorMessage" not in event("COMPLETE")["run"]["facets"]


def test_flow_run_url_is_in_the_prefect_run_facet() -> None:
    facet = event(flow_run_url="http://127.0.0.1:4200/runs/flow-run/abc")["run"]["facets"]["featurelake_prefectFlowRun"]
    assert facet["flowRunUrl"] == "http://127.0.0.1:4200/runs/flow-run/abc"
    assert "flowRunUrl" not in event()["run"]["facets"]["featurelake_prefectFlowRun"]


def test_processing_engine_is_prefect_with_its_version() -> None:
    facet = event()["run"]["facets"]["processing_engine"]
    assert facet["name"] == "prefect"
    assert facet["version"][0].isdigit()


def test_event_time_is_iso_8601_utc_with_a_zone() -> None:
    assert event()["eventTime"] == "2025-03-01T12:30:15.123Z"
    parsed = datetime.fromisoformat(event()["eventTime"])
    assert parsed.utcoffset() == timedelta(0)


def test_event_time_in_another_zone_is_converted_to_utc() -> None:
    cest = datetime(2025, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    body = run_event("START", FLOW_RUN, JOB, now=cest, namespace="featurelake")
    assert body["eventTime"] == "2025-03-01T12:30:00.000Z"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run_event("START", FLOW_RUN, JOB, now=datetime(2025, 3, 1, 12, 0), namespace="featurelake")


def test_the_job_namespace_is_the_callers_and_send_lineage_passes_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="namespace"):
        run_event("START", FLOW_RUN, JOB, now=NOW)  # type: ignore[call-arg]
    events = tmp_path / "events.jsonl"
    settings = Settings(openlineage_namespace="featurelake-prod", openlineage_file=events)
    assert send_lineage(settings, "START", JOB, FLOW_RUN, [BRONZE], [])
    body = json.loads(events.read_text().splitlines()[0])
    assert body["job"]["namespace"] == "featurelake-prod"
    assert body["run"]["runId"] == lineage_run_id("featurelake-prod", JOB, FLOW_RUN)


def test_settings_defaults_send_nothing_and_hide_the_api_key() -> None:
    fields = Settings.model_fields
    assert fields["openlineage_url"].default is None
    assert fields["openlineage_file"].default is None
    assert fields["openlineage_namespace"].default == "featurelake"
    keyed = Settings(openlineage_api_key="s3cr3t-token")  # type: ignore[arg-type]
    assert "s3cr3t-token" not in repr(keyed)


@pytest.mark.parametrize("url", ["http://marquez:5000", "http://marquez:5000/", "http://marquez:5000/api/v1/lineage"])
def test_endpoint_appends_the_lineage_path_once(url: str) -> None:
    assert lineage_endpoint(url) == "http://marquez:5000/api/v1/lineage"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda body: body["run"].pop("runId"),
        lambda body: body["run"].update(runId="flow-run-1"),
        lambda body: body.update(eventTime="yesterday"),
        lambda body: body["job"].pop("namespace"),
        lambda body: body["run"]["facets"]["processing_engine"].pop("_schemaURL"),
    ],
)
def test_the_schema_check_catches_a_broken_event(break_it: Any) -> None:
    body = event()
    break_it(body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, RUN_EVENT_2_0_2, format_checker=jsonschema.FormatChecker())

"""What a build shows and announces, built without Prefect or servers: reports, audit, events, the MLflow record."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from featurelake.build import announcements, record, report
from featurelake.build.audit import RunFacts
from featurelake.build.batch import BuildBatch, PublishedBatch
from featurelake.build.plan import BuildPlan
from featurelake.core import commits, events
from featurelake.core.naming import feature_set_resource_id
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import runs
from featurelake.settings import Settings
from featurelake.validate.gate import CheckFailure, ValidationFailedError, ValidationOutcome
from features.customer_txn import CUSTOMER_TXN

FAILED = CheckFailure("expect_column_values_to_be_between(column=amount)", "error", ("500.0",))
WARNED = CheckFailure("expect_column_mean_to_be_between(column=amount)", "warn")


def _outcome(*failures: CheckFailure) -> ValidationOutcome:
    return ValidationOutcome(evaluated=12, failures=failures, suite_hash="suite-1", result={"success": True})


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))


def _published(store: DeltaStore) -> PublishedBatch:
    objects = pl.DataFrame({SOURCE_KEY: ["b.csv", "a.csv", "a.csv"], SOURCE_ETAG: ["2", "1", "3"]})
    batch = BuildBatch(
        rows=30,
        source_rows=40,
        source_objects=objects,
        sample=pl.DataFrame({"x": [1.0]}),
        reference=pl.DataFrame(),
        outcome=_outcome(WARNED),
        seconds={"read": 1.5, "write": 0.25},
    )
    audit = RunFacts("run-1", None, "http://ui/runs/run-1").audit("fp-1", "rev-1")
    return PublishedBatch.of(store, CUSTOMER_TXN, 7, 9, batch, audit)


def test_the_audit_names_the_run_its_deployment_and_the_code() -> None:
    facts = RunFacts("run-1", None, None)
    assert facts.actor == "flow-run/run-1"
    assert facts.audit("fp", "rev") == {
        commits.FLOW_RUN_ID: "run-1",
        commits.DEPLOYMENT: "(none: run directly)",
        commits.FLOW_RUN_URL: "",
        commits.FINGERPRINT: "fp",
        commits.CODE_REVISION: "rev",
    }
    assert RunFacts("run-2", "nightly", "u").audit("fp", "rev")[commits.DEPLOYMENT] == "nightly"
    assert facts.withdrawal_metadata() == {commits.FLOW_RUN_ID: "run-1"}


def test_the_validation_report_lists_each_failure_and_the_verdict() -> None:
    failed = report.validation_report(CUSTOMER_TXN, _outcome(FAILED, WARNED), 3, published=False)
    assert failed.startswith("# customer_txn:v1: validation FAILED")
    assert "**not published** (kept in quarantine)" in failed
    assert "| error | `expect_column_values_to_be_between(column=amount)` | `500.0` |" in failed
    assert "| warn | `expect_column_mean_to_be_between(column=amount)` | - |" in failed
    passed = report.validation_report(CUSTOMER_TXN, _outcome(), 3, published=True)
    assert "validation passed" in passed
    assert "| - | every expectation passed | - |" in passed


def test_artifact_keys_and_the_unchanged_summary() -> None:
    assert report.artifact_key("build-progress", CUSTOMER_TXN) == "build-progress-customer-txn"
    plan = BuildPlan(CUSTOMER_TXN.ref, 5, 3, (), 0, "bronze changed since version 3")
    summary = report.unchanged_summary(CUSTOMER_TXN, plan, 4)
    assert summary == {
        "outcome": "unchanged: bronze version 5 changed no day since bronze version 3; Delta version 4 marks it "
        "published, no new data",
        "feature_set": "customer_txn",
        "delta_version": 4,
        "bronze_version": 5,
        "row_count": 0,
        "unchanged": True,
    }
    assert "no new data" in report.UNCHANGED


def test_a_publish_is_announced_with_its_table_version_and_warnings(store: DeltaStore) -> None:
    announcement = announcements.published(_published(store), "mlflow-run-1")
    payload = announcement.payload
    assert isinstance(payload, events.FeatureSetPublished)
    table_uri = store.uri(CUSTOMER_TXN.table_path)
    assert (payload.delta_version, payload.bronze_version, payload.row_count) == (9, 7, 30)
    assert (payload.fingerprint, payload.mlflow_run_id, payload.warnings) == (
        "fp-1",
        "mlflow-run-1",
        [WARNED.expectation],
    )
    assert announcement.event == events.FEATURE_SET_PUBLISHED
    assert announcement.resource_id == feature_set_resource_id(CUSTOMER_TXN)
    assert announcement.discriminator == events.at(table_uri, 9)
    assert announcement.labels == {
        "featurelake.table-uri": table_uri,
        "featurelake.delta-version": "9",
        "featurelake.lake-uri": store.uri("").rstrip("/"),
    }
    assert announcement.summary["expectations"] == 12
    assert announcement.summary["validation"] == "passed"
    assert (announcement.summary["seconds_read"], announcement.summary["seconds_write"]) == (1.5, 0.25)
    assert (announcement.summary["outcome"], announcement.description) == ("published", report.PUBLISHED)


def test_a_rejected_batch_names_its_failures_and_quarantine(store: DeltaStore) -> None:
    announcement = announcements.rejected(store, CUSTOMER_TXN, _outcome(FAILED, WARNED), 3, 100)
    payload = announcement.payload
    assert isinstance(payload, events.FeatureSetValidationFailed)
    assert payload.failed_expectations == [FAILED.expectation]
    assert payload.quarantine_uri is not None
    assert payload.quarantine_uri.endswith("quarantine/features/customer_txn/v1")
    assert announcement.discriminator == events.at(store.uri(CUSTOMER_TXN.table_path), "bronze-3")
    error = announcements.rejection_error(CUSTOMER_TXN, _outcome(FAILED))
    assert isinstance(error, ValidationFailedError)
    assert "1 expectation(s) failed" in str(error)


def test_the_build_run_records_inputs_outputs_and_the_audit(store: DeltaStore) -> None:
    arguments = record.build_run_arguments(_published(store), {"drift_breached_features": 0.0})
    assert arguments["tags"][commits.FLOW_RUN_ID] == "run-1"
    assert arguments["tags"][commits.SUITE_HASH] == "suite-1"
    assert arguments["tags"][commits.FEATURE_SET] == CUSTOMER_TXN.ref
    assert arguments["tags"][commits.DELTA_VERSION] == "9"
    assert arguments["params"]["source_objects"] == "a.csv,b.csv"
    assert arguments["params"]["source_rows"] == 40
    assert arguments["feature_rows"] == 30
    assert arguments["validation_metrics"]["expectations_warned"] == 1.0
    assert arguments["validation_metrics"]["drift_breached_features"] == 0.0
    assert arguments["sources"]["bronze_version"] == 7
    assert [o[SOURCE_KEY] for o in arguments["sources"]["raw_objects"]] == ["a.csv", "a.csv", "b.csv"]


def test_the_build_run_names_the_flow_as_its_source(store: DeltaStore) -> None:
    source = record.build_run_arguments(_published(store), {})["source"]
    assert source.tags() == {
        "mlflow.source.name": "flows/build_features.py:build_features (flow run run-1)",
        "mlflow.source.type": "JOB",
    }
    audit = RunFacts("run-2", "adhoc", None).audit("fp", "rev")
    assert record.build_source(audit).tags()["mlflow.source.name"] == (
        "flows/build_features.py:build_features (deployment build-features/adhoc, flow run run-2)"
    )


def test_the_source_entry_points_are_the_deployed_ones() -> None:
    deployed = {d["entrypoint"] for d in yaml.safe_load(Path("deployments/prefect.yaml").read_text())["deployments"]}
    assert {runs.BUILD_ENTRY_POINT, runs.RETRAIN_ENTRY_POINT} <= deployed

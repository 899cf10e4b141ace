"""What a build announces: the published event (also for a retry of a published input) and the rejection.

Each announcement is an event (name, resource, payload, deterministic discriminator) plus the
summary row the UI and the flow's return value show; emitting it is the flow's job. Events of
one table version collapse: a retried build announces the same id again, and Prefect keeps one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pydantic import BaseModel

from featurelake.build.batch import PublishedBatch
from featurelake.build.publish import BuildStart
from featurelake.build.report import PUBLISHED, REANNOUNCED
from featurelake.core import commits, events
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_quarantine_path, feature_set_resource_id
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import runs
from featurelake.settings import Settings
from featurelake.validate.gate import ValidationFailedError, ValidationOutcome


@dataclass(frozen=True)
class Announcement:
    """An event to emit, with the summary row the UI shows for it."""

    event: str
    resource_id: str
    payload: BaseModel
    discriminator: str
    labels: dict[str, str] | None = None
    summary: dict[str, object] = field(default_factory=dict)
    #: What the UI calls the summary: a new publish, or one announced again without new data.
    description: str = PUBLISHED


def published(batch: PublishedBatch, mlflow_run_id: str | None) -> Announcement:
    """``featurelake.feature-set.published`` for a new publish, with where the chunks' time went."""
    spec, outcome = batch.spec, batch.batch.outcome
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=batch.table_uri,
        delta_version=batch.delta_version,
        bronze_version=batch.bronze_version,
        row_count=batch.batch.rows,
        suite_hash=outcome.suite_hash,
        fingerprint=batch.audit[commits.FINGERPRINT],
        mlflow_run_id=mlflow_run_id,
        warnings=list(outcome.warnings),
    )
    return _publish_event(spec, payload, outcome.evaluated, batch.batch.seconds)


def republished(settings: Settings, store: DeltaStore, spec: FeatureSet, start: BuildStart) -> Announcement:
    """The published event again for an input already published (a retry changes nothing, so it re-announces).

    The payload is rebuilt from the publish commit and the build run that recorded it (not the
    retrains that trained on it), so it equals the first announcement and collapses into it.

    Raises:
        ValueError: when ``start`` names no earlier publish.
    """
    commit = start.published
    if commit is None:
        raise ValueError(f"{spec.ref}: bronze version {start.bronze_version} is not published; nothing to re-announce")
    delta_version = int(commit["version"])
    builds = runs.build_runs(settings, spec.ref, delta_version)
    payload = events.FeatureSetPublished(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=store.uri(spec.table_path),
        delta_version=delta_version,
        bronze_version=start.bronze_version,
        row_count=int(commit.get(commits.BATCH_ROWS) or store.existing(spec.table_path, delta_version).count()),
        suite_hash=str(commit.get(commits.SUITE_HASH, "")),
        fingerprint=commit.get(commits.FINGERPRINT),
        mlflow_run_id=builds[0]["run_id"] if builds else None,
    )
    expectations = int(builds[0]["metrics"].get("expectations_evaluated", 0)) if builds else 0
    announcement = _publish_event(spec, payload, expectations)
    outcome = (
        f"re-announced: bronze version {start.bronze_version} was already published as Delta version "
        f"{delta_version}; nothing was built, no new data"
    )
    return replace(announcement, summary={**announcement.summary, "outcome": outcome}, description=REANNOUNCED)


def _publish_event(
    spec: FeatureSet, payload: events.FeatureSetPublished, expectations: int, seconds: dict[str, float] | None = None
) -> Announcement:
    """The published event of ``payload``, labelled with its table version; the summary adds the gate and timings."""
    summary: dict[str, object] = {"outcome": "published"} | payload.model_dump()
    summary |= {"expectations": expectations, "validation": "passed"}
    summary |= {f"seconds_{step}": value for step, value in (seconds or {}).items()}
    return Announcement(
        event=events.FEATURE_SET_PUBLISHED,
        resource_id=feature_set_resource_id(spec),
        payload=payload,
        discriminator=events.at(payload.table_uri, payload.delta_version),
        labels={
            events.TABLE_URI_LABEL: payload.table_uri,
            events.DELTA_VERSION_LABEL: str(payload.delta_version),
            events.LAKE_URI_LABEL: payload.table_uri.removesuffix("/" + spec.table_path),
        },
        summary=summary,
    )


def rejected(
    store: DeltaStore, spec: FeatureSet, outcome: ValidationOutcome, bronze_version: int, rows: int
) -> Announcement:
    """``featurelake.feature-set.validation-failed``: what failed, and where the rows were kept instead."""
    payload = events.FeatureSetValidationFailed(
        feature_set=spec.name,
        feature_set_version=spec.version,
        bronze_version=bronze_version,
        failed_expectations=list(outcome.failed),
        suite_hash=outcome.suite_hash,
        quarantine_uri=store.uri(feature_quarantine_path(spec.name, spec.version)),
        rows=rows,
    )
    discriminator = events.at(store.uri(spec.table_path), f"bronze-{bronze_version}")
    return Announcement(events.FEATURE_SET_VALIDATION_FAILED, feature_set_resource_id(spec), payload, discriminator)


def rejection_error(spec: FeatureSet, outcome: ValidationOutcome) -> ValidationFailedError:
    """The error that fails a run whose batch the gate blocked, naming the expectations that failed."""
    return ValidationFailedError(f"{spec.ref}: {len(outcome.failed)} expectation(s) failed: {list(outcome.failed)}")

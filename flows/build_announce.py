"""What the build flow shows in the Prefect UI (artifacts) and announces (events) about a batch."""

from __future__ import annotations

from typing import NoReturn

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from featurelake.build import announcements
from featurelake.build.plan import BuildPlan
from featurelake.build.report import UNCHANGED, artifact_key, drift_markdown, unchanged_summary, validation_report
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.observe.drift import announce_drift
from featurelake.validate.gate import ValidationOutcome


def emit_announcement(announcement: announcements.Announcement) -> None:
    """Emit the announcement's event (its deterministic id makes a re-emit collapse)."""
    a = announcement
    emit(a.event, a.resource_id, a.payload, a.discriminator, labels=a.labels)


def announce(spec: FeatureSet, announcement: announcements.Announcement) -> dict[str, object]:
    """Show the publish (or its re-announcement) in the UI, emit its event; the summary is the return value."""
    create_table_artifact(
        table=[announcement.summary], key=artifact_key("build", spec), description=announcement.description
    )
    emit_announcement(announcement)
    return announcement.summary


def show_unchanged(spec: FeatureSet, plan: BuildPlan, delta_version: int) -> dict[str, object]:
    """Say in the UI that the build had no day to recompute (nothing is announced: no new data)."""
    summary = unchanged_summary(spec, plan, delta_version)
    create_table_artifact(table=[summary], key=artifact_key("build", spec), description=UNCHANGED)
    return summary


def show_validation(spec: FeatureSet, outcome: ValidationOutcome, bronze_version: int, published: bool) -> None:
    """The gate's report in the UI: each failed expectation, blocking or warn-only."""
    report = validation_report(spec, outcome, bronze_version, published=published)
    create_markdown_artifact(markdown=report, key=artifact_key("validation", spec))


def reject(store: DeltaStore, spec: FeatureSet, outcome: ValidationOutcome, bronze_version: int, rows: int) -> NoReturn:
    """Explain a failed gate in the UI and as an event, then fail the run (the chunks kept their rows in quarantine)."""
    show_validation(spec, outcome, bronze_version, published=False)
    emit_announcement(announcements.rejected(store, spec, outcome, bronze_version, rows))
    raise announcements.rejection_error(spec, outcome)


def report_drift(
    store: DeltaStore, spec: FeatureSet, drift: tuple[DriftReport, int] | None, delta_version: int
) -> None:
    """Show drift against the previous publish in the UI; announce a breach as an event."""
    if drift is None:
        return
    report, reference_version = drift
    create_markdown_artifact(
        markdown=drift_markdown(spec, report, delta_version, reference_version), key=artifact_key("drift", spec)
    )
    if report.breached:
        get_run_logger().warning("%s drifted beyond its thresholds: %s", spec.ref, list(report.breached))
        announce_drift(store.uri(spec.table_path), spec, report, delta_version, reference_version)

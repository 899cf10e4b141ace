"""The ingest run's quarantine report: a markdown artifact, a WARNING per source and one event per source.

The run stays Completed (it did its job: nothing was dropped), but rows in quarantine need a
person, so the run ends with a report they can see in the Prefect UI, the log and the Event Feed.
What it says is :mod:`featurelake.ingest.quarantine_report`'s.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from featurelake.ingest.bronze import IngestResult
from featurelake.ingest.quarantine_report import (
    ARTIFACT_KEY,
    announce_quarantine,
    artifact_description,
    quarantine_markdown,
    warning_text,
)
from featurelake.settings import Settings


def report_quarantine(settings: Settings, results: list[IngestResult]) -> None:
    """Publish the artifact, log the warnings and emit the events, when this run quarantined anything."""
    quarantined = [r for r in results if r.quarantined]
    if not quarantined:
        return
    description = artifact_description(quarantined)
    create_markdown_artifact(markdown=quarantine_markdown(quarantined), key=ARTIFACT_KEY, description=description)
    for result in quarantined:
        get_run_logger().warning(warning_text(result))
        announce_quarantine(settings, result)

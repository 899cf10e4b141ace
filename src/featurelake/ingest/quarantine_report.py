"""What an ingest run tells people about the rows it quarantined: a markdown table, a warning, an event.

A quarantined row is not an error of the run (the run did its job: nothing was dropped), but
somebody has to look at it, so the run ends with a visible report. Everything here counts the
objects the run committed (:class:`featurelake.ingest.bronze.IngestResult`), and shows object
keys and reasons in full: reasons name columns, keys and rules, never a row's values, so they
are safe in the Prefect UI, the log and an event payload. The raw content stays in the
quarantine table (``featurelake quarantine --raw``).
"""

from __future__ import annotations

import uuid

from featurelake.core import events
from featurelake.core.naming import quarantine_path
from featurelake.ingest.bronze import IngestResult
from featurelake.io.prefect.events import emit
from featurelake.settings import Settings

#: The key of the run's quarantine artifact in the Prefect UI.
ARTIFACT_KEY = "ingest-quarantine"
#: Bounds that keep an event small (what is left out is counted in the payload) and a log line readable.
EVENT_OBJECTS, EVENT_REASONS, WARNING_LINES = 50, 20, 20


def rows_quarantined(results: list[IngestResult]) -> int:
    """Rows (a file rejected whole counts as one) this run sent to quarantine, over all sources."""
    return sum(r.rows_quarantined for r in results)


def summary_description(results: list[IngestResult]) -> str:
    """The ``ingest-summary`` artifact's description, pointing at the quarantine report when there is one."""
    quarantined = rows_quarantined(results)
    note = f"; {quarantined} rows quarantined (see the {ARTIFACT_KEY} artifact)" if quarantined else ""
    return f"Rows read = accepted + quarantined + suppressed (erased subjects), per source{note}"


def artifact_description(results: list[IngestResult]) -> str:
    """The artifact's one-line description: the count a person sees in the artifact list."""
    objects = sum(len(r.quarantined) for r in results)
    return f"{rows_quarantined(results)} rows quarantined from {objects} object(s)"


def quarantine_markdown(results: list[IngestResult]) -> str:
    """Per source, a table of every object with each of its reasons and their row counts, never cut."""
    lines = [f"# {artifact_description(results)}", "", "Reasons name columns and rules, never values."]
    for result in (r for r in results if r.quarantined):
        lines += ["", f"## {result.source}: {result.rows_quarantined} row(s) from {len(result.quarantined)} object(s)"]
        lines += ["", f"List and inspect them: `featurelake quarantine --source {result.source}`", ""]
        lines += ["| object | reason | rows |", "|---|---|---:|"]
        for obj in result.quarantined:
            lines += [f"| {_code(obj.key)} | {_code(r.reason)} | {r.rows} |" for r in obj.reasons]
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    """Text as a markdown code span inside a table cell: no formatting, pipes escaped."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text.replace('|', chr(92) + '|')}{fence}"


def warning_text(result: IngestResult) -> str:
    """The run's WARNING for one source: the counts, then one line per object and reason (bounded)."""
    head = (
        f"{result.source}: {result.rows_quarantined} row(s) quarantined from {len(result.quarantined)} object(s); "
        f"`featurelake quarantine --source {result.source}` lists them"
    )
    pairs = [(obj.key, reason) for obj in result.quarantined for reason in obj.reasons]
    lines = [f"  {key}: {reason.rows} x {reason.reason}" for key, reason in pairs[:WARNING_LINES]]
    if len(pairs) > WARNING_LINES:
        more = len(pairs) - WARNING_LINES
        lines.append(f"  ... and {more} more (object, reason) pair(s) in the {ARTIFACT_KEY} artifact")
    return "\n".join([head, *lines])


def quarantined_payload(settings: Settings, result: IngestResult) -> events.RawObjectQuarantined:
    """The event's payload: counts and reasons per object, bounded, never a row's values."""
    listed = result.quarantined[:EVENT_OBJECTS]
    return events.RawObjectQuarantined(
        source=result.source,
        table_uri=settings.table_uri(quarantine_path(result.source)),
        delta_version=result.quarantine_version,
        rows_quarantined=result.rows_quarantined,
        objects_quarantined=len(result.quarantined),
        objects=[_bounded(obj) for obj in listed],
        more_objects=len(result.quarantined) - len(listed),
    )


def _bounded(obj: events.QuarantinedObject) -> events.QuarantinedObject:
    """An object with its most frequent reasons only, counting those left out."""
    kept = obj.reasons[:EVENT_REASONS]
    return obj.model_copy(update={"reasons": kept, "more_reasons": len(obj.reasons) - len(kept)})


def announce_quarantine(settings: Settings, result: IngestResult) -> uuid.UUID | None:
    """Emit ``featurelake.raw-object.quarantined`` for one source; None when this run quarantined nothing.

    The id is derived from the quarantine table and the object versions, so a re-emit of the
    same report collapses, while a concurrent run (other objects) gets its own event.
    """
    if not result.quarantined:
        return None
    payload = quarantined_payload(settings, result)
    digest = events.objects_digest([(obj.key, obj.etag) for obj in result.quarantined])
    bucket = settings.raw_bucket
    related = [
        {"prefect.resource.id": events.raw_object_resource_id(bucket, o.key), "prefect.resource.role": "raw-object"}
        for o in payload.objects
    ]
    labels = {
        events.TABLE_URI_LABEL: payload.table_uri,
        events.DELTA_VERSION_LABEL: str(payload.delta_version),
        "featurelake.source": result.source,
    }
    resource = events.quarantine_resource_id(result.source)
    return emit(events.RAW_OBJECT_QUARANTINED, resource, payload, events.at(payload.table_uri, digest), labels, related)

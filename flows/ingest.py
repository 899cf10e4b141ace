"""Ingest: new raw objects of each source → bronze Delta tables (bad rows → quarantine).

Each source is one retried task (:mod:`flows.ingest_tasks`); a failing source does not stop the
others, whose landings are announced before the run fails with the first cause.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from featurelake.core import catalog
from featurelake.core.naming import bronze_path
from featurelake.ingest.announcements import announce_landings
from featurelake.ingest.bronze import summary_rows
from featurelake.ingest.quarantine_report import summary_description
from featurelake.lineage import openlineage
from featurelake.lineage.jobs import send_lineage
from featurelake.settings import get_settings
from flows.ingest_report import report_quarantine
from flows.ingest_tasks import fail_run, ingest_source


@flow(name="ingest", log_prints=True)
def ingest(sources: list[str] | None = None, objects_per_commit: int = 100) -> list[dict[str, object]]:
    """Ingest every source the features package declares (or the named ones) and announce what landed."""
    settings, run_id = get_settings(), str(flow_run.id)
    chosen = catalog.load(settings.features_module).select_sources(sources)
    raw = [openlineage.LineageDataset(f"s3://{settings.raw_bucket}", c.raw_prefix) for c in chosen]
    send_lineage(settings, "START", "ingest", run_id, raw, [])
    states = {c.name: ingest_source(settings, c, objects_per_commit, return_state=True) for c in chosen}
    failed = {name: state for name, state in states.items() if not state.is_completed()}
    results = [r for state in states.values() if state.is_completed() and (r := state.result()) is not None]
    rows = summary_rows(results)
    if rows:
        create_table_artifact(table=rows, key="ingest-summary", description=summary_description(results))
    report_quarantine(settings, results)
    announce_landings(settings, [c.name for c in chosen if c.name not in failed], results, run_id)
    bronze = [openlineage.s3_dataset(settings.table_uri(bronze_path(r.source)), r.bronze_version) for r in results]
    if failed:
        fail_run(settings, raw, bronze, failed)
    send_lineage(settings, "COMPLETE", "ingest", run_id, raw, bronze)
    return rows

"""Watch the raw bucket: announce every object no ingest has processed yet.

Scheduled (see ``deployments/prefect.yaml``); each landed event reaches the ingest deployment's
trigger, which batches a burst of them into one ingest run.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from featurelake.core import catalog
from featurelake.ingest.watcher import announce_landed, count_by_source, pending_objects
from featurelake.settings import get_settings


@flow(name="watch-raw", log_prints=True)
def watch_raw(sources: list[str] | None = None) -> dict[str, int]:
    """Announce pending raw objects of every declared source (or the named ones); counts per source."""
    settings, logger = get_settings(), get_run_logger()
    chosen = catalog.load(settings.features_module).select_sources(sources)
    pending = pending_objects(settings, chosen)
    announce_landed(settings, pending)
    counts = count_by_source(chosen, pending)
    logger.info("pending raw objects announced: %s", counts)
    return counts

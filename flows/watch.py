"""Watch the raw bucket: announce every object no ingest has processed yet (the safety net).

Scheduled (``watch-raw/safety-net`` in ``deployments/prefect.yaml``, every
``FEATURELAKE_WATCH_EVERY_MINUTES``) behind the S3 events, which are the fast path; each landed event
reaches the ingest deployment's trigger, which batches a burst of them into one ingest run. A look
that finds nothing new emits no event and creates no artifact: the log line is its only trace.
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
    if pending:  # a look that finds nothing emits nothing; no look creates an artifact
        announce_landed(settings, pending)
    counts = count_by_source(chosen, pending)
    logger.info("pending raw objects announced: %s", counts)
    return counts

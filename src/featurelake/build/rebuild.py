"""A build without an orchestrator: plan, chunks one after another, gate, publish.

The build flow fans chunks out on Prefect's task runner, measures drift and records an MLflow
run. An erasure needs the publish itself, from code that does not run inside that flow (the
``featurelake forget`` command, the erase flow), with the same plan, the same gate and the same
publish protocol, plus its own audit metadata (the erasure request). This is that path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from featurelake.build import publish
from featurelake.build.batch import BuildBatch
from featurelake.build.budget import chunk_row_limit
from featurelake.build.chunks import chunk_jobs, run_chunk_job
from featurelake.build.plan import plan_build
from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta import maintenance
from featurelake.io.delta.store import DeltaStore
from featurelake.io.revision import code_revision
from featurelake.settings import Settings
from featurelake.validate.gate import ValidationFailedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild published: the bronze version, the Delta version, the days and rows recomputed."""

    feature_set: str
    bronze_version: int
    delta_version: int
    days: int
    rows: int
    #: False when the bronze version was already published (nothing was written).
    wrote: bool


def rebuild(settings: Settings, store: DeltaStore, spec: FeatureSet, audit: Mapping[str, str], actor: str) -> Rebuilt:
    """Publish the latest bronze version of ``spec``'s source, recomputing only the days it changed.

    ``audit`` is added to every commit (e.g. the erasure request). Chunks run one after another
    in this process.

    Raises:
        ValidationFailedError: when the recomputed days fail the gate; the table is restored to
            its version before the rebuild, and nothing is published.
    """
    start = publish.start(store, spec, code_revision(), actor)
    if start.published is not None:
        version = int(start.published["version"])
        return Rebuilt(spec.ref, start.bronze_version, version, 0, 0, wrote=False)
    plan = plan_build(store, spec, start.bronze_version, chunk_row_limit(spec, settings))
    metadata = dict(audit) | {commits.FINGERPRINT: start.fingerprint}
    if not plan.chunks:
        version = publish.publish_unchanged(store, spec, plan, metadata)
        return Rebuilt(spec.ref, plan.bronze_version, version, 0, 0, wrote=True)
    publish.prepare(store, spec, plan)
    before = store.version(spec.table_path)
    results = [run_chunk_job(settings, job) for job in chunk_jobs(spec, plan, None, metadata)]
    batch = BuildBatch.of(results)
    if not batch.outcome.success:
        _restore(store, spec, before)
        raise ValidationFailedError(f"rebuild of {spec.ref}: the gate failed {list(batch.outcome.failed)}")
    version = publish.finish(store, spec, plan, results, metadata, batch.outcome)
    days = sum(chunk.days for chunk in plan.chunks)
    logger.info("%s: rebuilt %d day(s), %d rows, published as version %d", spec.ref, days, batch.rows, version)
    return Rebuilt(spec.ref, plan.bronze_version, version, days, batch.rows, wrote=True)


def _restore(store: DeltaStore, spec: FeatureSet, before: int | None) -> None:
    """Undo chunks that committed before another chunk failed its gate (a first build leaves no table)."""
    table = store.table(spec.table_path)
    if table is None or before is None or table.version() == before:
        return
    maintenance.restore(table, before, {commits.REASON: "a rebuild failed its gate; its chunks are withdrawn"})

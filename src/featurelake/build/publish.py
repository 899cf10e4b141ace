"""The publish protocol of a feature build: which commit makes a bronze version's features visible.

A build publishes each bronze version once, in one commit: the *publish*, which names the bronze
version and carries the build's app transaction (see :mod:`featurelake.core.commits` for the
keys), so a retried build finds its input already published and only announces it again.

- **One chunk:** the chunk's own commit is the publish. The chunk creates the table and its
  CHECK constraints only after its gate passed, so a first build that fails leaves no table.
- **Several chunks:** the table and its constraints are prepared before the chunks write
  concurrently; each writes a chunk commit (not a publish), then a marker commit without rows
  is the publish, naming how many chunks came before it and the suite that gated them.
- **No chunk** (bronze only compacted): a marker commit that names zero chunks.

A backfill's commit names the bronze version it read, but is not a publish (:func:`backfill_metadata`).

Flows call :func:`start`, :func:`chunk_instructions`, :func:`prepare`, :func:`finish` and
:func:`publish_unchanged`; they never decide any of this themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from featurelake.build.plan import BuildPlan
from featurelake.build.quarantine import clear_quarantine
from featurelake.build.source import bronze_version_of
from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.core.featureset import FeatureSet, with_partition
from featurelake.core.fingerprint import fingerprint
from featurelake.core.increments import DayChunk
from featurelake.io.delta.feature_tables import ensure_check_constraints
from featurelake.io.delta.registry import FeatureRegistry
from featurelake.io.delta.store import AppTransaction, DeltaStore
from featurelake.validate.gate import ValidationOutcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildStart:
    """Where a build starts: the bronze version it reads, the registered definition, an earlier publish of it."""

    bronze_version: int
    fingerprint: str
    code_revision: str
    #: The commit that already published ``bronze_version`` (a retry announces it again), or None.
    published: dict[str, Any] | None

    def describe(self, spec: FeatureSet) -> str:
        """One log line on what the build does next."""
        if self.published is None:
            return f"{spec.ref}: building bronze version {self.bronze_version}"
        version = self.published["version"]
        return f"bronze version {self.bronze_version} is already published as {spec.ref} version {version}"


def start(store: DeltaStore, spec: FeatureSet, code_revision: str, actor: str) -> BuildStart:
    """Register the definition, find the bronze version to build and whether it is already published.

    Raises:
        RegistryMismatchError: when the definition changed without a version bump.
        FileNotFoundError: naming the source when nothing was ingested yet.
    """
    record = FeatureRegistry(store).ensure_registered(spec, code_revision, actor=actor)
    bronze_version = bronze_version_of(store, spec)
    published = published_commit(store, spec, bronze_version)
    return BuildStart(bronze_version, record.fingerprint, code_revision, published)


def published_commit(store: DeltaStore, spec: FeatureSet, bronze_version: int) -> dict[str, Any] | None:
    """The feature table commit that already published this bronze version, if any.

    Its ``version`` is the Delta version and its metadata carries the audit of that publish.
    """
    applied = store.app_version(spec.table_path, commits.build_app_id(spec))
    if applied is None or applied < bronze_version:
        return None
    commit = store.find_commit(spec.table_path, commits.BRONZE_VERSION, str(bronze_version))
    if commit is None or commits.undone_by_rollback(store.history(spec.table_path), int(commit["version"])):
        return None  # rolled back: announcing it again would retrain on data someone withdrew
    return commit


@dataclass(frozen=True)
class ChunkInstructions:
    """What a chunk writes beside its rows: commit metadata, the idempotency marker, whether it prepares the table.

    Built by :func:`chunk_instructions`; small and picklable, so it travels to any worker.
    """

    metadata: dict[str, str] = field(default_factory=dict)
    app_transaction: AppTransaction | None = None
    #: Create the table and add its CHECK constraints after the gate passed (a build's only chunk).
    prepare_table: bool = False

    def commit_metadata(self, rows: int, chunk: DayChunk, suite_hash: str) -> dict[str, str]:
        """The metadata of the chunk's commit: the build's, plus its row count, days and suite."""
        return {
            **self.metadata,
            commits.BATCH_ROWS: str(rows),
            commits.DAYS: chunk.label,
            commits.SUITE_HASH: suite_hash,
        }


def chunk_instructions(plan: BuildPlan, spec: FeatureSet, audit: Mapping[str, str]) -> ChunkInstructions:
    """How the chunks of ``plan`` commit: a single chunk is the publish; several write chunk commits."""
    if len(plan.chunks) == 1:
        metadata = commits.publish_metadata(spec.ref, plan.bronze_version, audit, rows=0)  # the chunk adds its rows
        return ChunkInstructions(metadata, _marker(spec, plan.bronze_version), prepare_table=True)
    return ChunkInstructions(commits.chunk_metadata(spec.ref, audit))


def prepare(store: DeltaStore, spec: FeatureSet, plan: BuildPlan) -> None:
    """Before any chunk writes: drop an earlier attempt's quarantined rows; set up the table for concurrent chunks.

    Several chunks commit concurrently, so the table and its CHECK constraints must exist first
    (a single chunk adds them itself, after its gate).
    """
    if len(plan.chunks) > 1:
        add_constraints(store, spec, pl.DataFrame(schema=spec.output_schema()))
    clear_quarantine(store, spec, plan.bronze_version)


def add_constraints(store: DeltaStore, spec: FeatureSet, schema_of: pl.DataFrame) -> None:
    """Create the table if needed (with ``schema_of``'s columns) and add the CHECK constraints it lacks."""
    added = ensure_check_constraints(store, spec, check_constraints(spec), schema_of)
    if added:
        logger.info("added Delta CHECK constraints %s to %s", added, store.uri(spec.table_path))


class PublishedChunk(Protocol):
    """What :func:`finish` reads of a chunk's result (:class:`featurelake.build.chunks.ChunkResult`)."""

    @property
    def rows(self) -> int:
        """Feature rows the chunk wrote."""

    @property
    def delta_version(self) -> int | None:
        """The chunk's commit (None: it wrote nothing)."""


def finish(
    store: DeltaStore,
    spec: FeatureSet,
    plan: BuildPlan,
    results: Sequence[PublishedChunk],
    audit: Mapping[str, str],
    outcome: ValidationOutcome,
) -> int:
    """Complete the publish after every chunk passed; returns its Delta version.

    A single chunk's commit already is the publish; after several, a marker commit is.
    """
    if len(results) == 1 and results[0].delta_version is not None:
        return results[0].delta_version
    rows = sum(r.rows for r in results)
    metadata = commits.publish_metadata(spec.ref, plan.bronze_version, audit, rows) | {
        commits.SUITE_HASH: outcome.suite_hash,
        commits.CHUNKS: str(len(results)),
    }
    return publish_marker(store, spec, plan.bronze_version, metadata)


def publish_unchanged(store: DeltaStore, spec: FeatureSet, plan: BuildPlan, audit: Mapping[str, str]) -> int:
    """Publish a bronze version that changed no day (e.g. only compacted): a marker of zero chunks.

    Returns:
        The marker's Delta version.
    """
    metadata = commits.publish_metadata(spec.ref, plan.bronze_version, audit, rows=0) | {commits.CHUNKS: "0"}
    return publish_marker(store, spec, plan.bronze_version, metadata)


def publish_marker(store: DeltaStore, spec: FeatureSet, bronze_version: int, metadata: Mapping[str, str]) -> int:
    """Write the commit, without rows of its own, that is the publish of ``bronze_version``.

    ``metadata`` is :func:`featurelake.core.commits.publish_metadata`'s plus what the build adds; the
    commit also carries the idempotency marker.
    """
    empty = with_partition(spec, pl.DataFrame(schema=spec.output_schema()))
    return store.write(
        spec.table_path, empty, mode="append", metadata=metadata, app_transaction=_marker(spec, bronze_version)
    )


def backfill_metadata(
    spec: FeatureSet, audit: Mapping[str, str], days: DayChunk, bronze_version: int, suite_hash: str
) -> dict[str, str]:
    """The metadata of a backfill's commit: the days it replaced, the bronze version it read; not a publish.

    The bronze version goes under ``SOURCE_BRONZE_VERSION``, not ``BRONZE_VERSION``: that key
    marks publishes, which a retried build would re-announce.
    """
    return {
        **audit,
        commits.OPERATION: commits.Operation.BACKFILL,
        commits.FEATURE_SET: spec.ref,
        commits.DAYS: days.label,
        commits.SUITE_HASH: suite_hash,
        commits.FINGERPRINT: fingerprint(spec),
        commits.SOURCE_BRONZE_VERSION: str(bronze_version),
    }


def _marker(spec: FeatureSet, bronze_version: int) -> AppTransaction:
    """The app transaction that says builds of ``spec`` applied bronze up to ``bronze_version``."""
    return AppTransaction(commits.build_app_id(spec), bronze_version)

"""The commit protocol: what featurelake writes into, and reads back from, Delta commit metadata.

Every table in the lake carries its audit trail in the ``commitInfo`` of its own commits, so
the keys and the rules that read them must be spelled once. A *publish* is the commit that makes
a bronze version's features visible: it names that bronze version (:data:`BRONZE_VERSION`) and
carries the build's app transaction (:func:`build_app_id` at the bronze version), which is how a
retried build finds that its input is already published. A build of several chunks writes one
commit per chunk (:attr:`Operation.BUILD_CHUNK`) and then a *marker* commit, without rows, that
is the publish. A backfill names the bronze version it read under :data:`SOURCE_BRONZE_VERSION`.
A rollback is a Delta restore that records the version it restored to (:data:`RESTORED_TO`).

Everything here is pure: functions over the commit dictionaries ``DeltaTable.history()`` gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

#: Key of the operation featurelake performed in a commit (absent on a publish: see :func:`operation_of`).
OPERATION = "featurelake.operation"
#: A publish: the bronze version whose features the commit made visible.
BRONZE_VERSION = "featurelake.bronze_version"
#: A backfill: the bronze version the rebuilt days were read from.
SOURCE_BRONZE_VERSION = "featurelake.source_bronze_version"
#: A publish: how many feature rows it made visible (a marker commit writes none itself).
BATCH_ROWS = "featurelake.batch_rows"
#: A build chunk or backfill: the day range it replaced (``2026-01-01..2026-01-07``).
DAYS = "featurelake.days"
#: A publish: how many chunk commits came before its marker (``0``: nothing to recompute).
CHUNKS = "featurelake.chunks"
#: The content hash of the Great Expectations suite that gated the rows.
SUITE_HASH = "featurelake.suite_hash"
#: The fingerprint of the feature set definition that computed the rows.
FINGERPRINT = "featurelake.fingerprint"
#: The feature set reference (``name:vN``) a commit or MLflow run belongs to.
FEATURE_SET = "featurelake.feature_set"
#: A rollback: the version the table was restored to, and the version it was at before.
RESTORED_TO = "featurelake.restored_to"
ROLLED_BACK_FROM = "featurelake.rolled_back_from"
#: A vacuum: the versions it kept because registered models were trained on them.
PROTECTED_VERSIONS = "featurelake.protected_versions"
#: Who and why: a person or a flow run (``flow-run/<id>``), and the reason they gave.
ACTOR = "featurelake.actor"
REASON = "featurelake.reason"
#: Where a commit came from: the flow run, its UI link, the deployment, the code revision.
FLOW_RUN_ID = "featurelake.flow_run_id"
FLOW_RUN_URL = "featurelake.flow_run_url"
DEPLOYMENT = "featurelake.deployment"
CODE_REVISION = "featurelake.code_revision"
FLOW = "featurelake.flow"
#: An ingest commit: the source, how many raw objects it holds and their keys (a JSON list).
SOURCE = "featurelake.source"
OBJECTS = "featurelake.objects"
SOURCE_KEYS = "featurelake.source_keys"
#: An ingest commit: the id (not the value) of the key that hashed its PII columns.
PII_KEY_ID = "featurelake.pii_key_id"
#: The erasure request a commit carries out (a data subject's rows removed, or days rebuilt without them).
ERASURE_REQUEST = "featurelake.erasure_request"
#: MLflow tags of a run or model version: the Delta version of the feature table it read.
DELTA_VERSION = "featurelake.delta_version"

#: The app id under which an ingest records which bronze versions it announced.
ANNOUNCED_APP_ID = "featurelake.ingest.bronze-announced"


class Operation(StrEnum):
    """The values of :data:`OPERATION`; a publish has none of its own (it names its bronze version)."""

    CREATE_TABLE = "create-table"
    ADD_CONSTRAINTS = "add-constraints"
    BUILD_CHUNK = "build-chunk"
    BACKFILL = "backfill"
    ROLLBACK = "rollback"
    VACUUM = "vacuum"
    COMPACT = "compact"
    KEEP_LOG = "keep-log"
    REGISTRY_APPLY = "registry-apply"
    BRONZE_ANNOUNCED = "bronze-announced"
    ERASE = "erase"


#: What :func:`operation_of` calls a commit that names a bronze version without an operation.
PUBLISH = "publish"
#: featurelake's maintenance commits: they change no row, so a reader looking for a table's last
#: data commit (an ingest, a publish, a rejected batch) skips them.
MAINTENANCE_OPERATIONS = frozenset({Operation.COMPACT, Operation.VACUUM, Operation.KEEP_LOG})
#: Commits that change a feature table without publishing data (they do not reset staleness).
NOT_PUBLISHES = frozenset({Operation.CREATE_TABLE, Operation.ADD_CONSTRAINTS, Operation.ROLLBACK, "restore"})


class Versioned(Protocol):
    """Anything named with a definition version, such as a feature set."""

    @property
    def name(self) -> str:
        """The feature set's name."""

    @property
    def version(self) -> int:
        """The definition version."""


def build_app_id(spec: Versioned) -> str:
    """The Delta app-transaction id under which builds of this feature set version commit."""
    return f"featurelake.build.{spec.name}.v{spec.version}"


def operation_of(commit: Mapping[str, Any]) -> str | None:
    """What featurelake did in a commit: its recorded operation, or a publish (which names its bronze input)."""
    recorded = commit.get(OPERATION)
    if recorded is not None:
        return str(recorded)
    return PUBLISH if BRONZE_VERSION in commit else None


def is_publish(commit: Mapping[str, Any]) -> bool:
    """A commit that put a built batch in the table (a build's publish or a backfill).

    Table creation, constraint changes and restores change the log but publish nothing new.
    """
    if commit.get(OPERATION) in NOT_PUBLISHES or commit.get("operation") == "RESTORE":
        return False
    return BRONZE_VERSION in commit or SOURCE_BRONZE_VERSION in commit


def is_chunk(commit: Mapping[str, Any]) -> bool:
    """A chunk of a build of several chunks: rows written, but not yet the publish."""
    return commit.get(OPERATION) == Operation.BUILD_CHUNK


def published_bronze_version(commit: Mapping[str, Any]) -> int | None:
    """The bronze version a publish made visible (None: the commit is not a build's publish)."""
    value = commit.get(BRONZE_VERSION)
    return None if value in (None, "") else int(str(value))


def source_bronze_version(commit: Mapping[str, Any]) -> int | None:
    """The bronze version whose rows a publish or backfill holds (None: it names none)."""
    value = commit.get(BRONZE_VERSION) or commit.get(SOURCE_BRONZE_VERSION)
    return None if value in (None, "") else int(str(value))


def undone_by_rollback(history: Iterable[Mapping[str, Any]], version: int) -> bool:
    """True when a commit newer than ``version`` restored the table to a version before it.

    A Delta restore keeps app transactions, so the idempotency marker alone would still call a
    rolled-back input published; the rollback commits' :data:`RESTORED_TO` says otherwise.
    ``history`` is newest first, as delta-rs returns it.
    """
    for commit in history:
        if int(commit["version"]) <= version:
            return False
        restored_to = commit.get(RESTORED_TO)
        if commit.get(OPERATION) == Operation.ROLLBACK and restored_to is not None and int(restored_to) < version:
            return True
    return False


def publish_metadata(ref: str, bronze_version: int, audit: Mapping[str, str], rows: int) -> dict[str, str]:
    """The metadata that makes a commit the publish of ``bronze_version`` (what retries look for)."""
    return {**audit, BRONZE_VERSION: str(bronze_version), BATCH_ROWS: str(rows), FEATURE_SET: ref}


def chunk_metadata(ref: str, audit: Mapping[str, str]) -> dict[str, str]:
    """The metadata of a chunk commit that is not itself the publish (a build of several chunks)."""
    return {**audit, OPERATION: Operation.BUILD_CHUNK, FEATURE_SET: ref}


def chunk_days(commit: Mapping[str, Any]) -> list[tuple[date, date]]:
    """The day range a chunk or backfill commit names (``2026-01-01..2026-01-07``); none for anything else."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", str(commit.get(DAYS, "")))
    return [] if match is None else [(date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2)))]


def day_label(start: date, end: date) -> str:
    """How a commit names the day range it replaced (read back by :func:`chunk_days`)."""
    return f"{start.isoformat()}..{end.isoformat()}"


def keys_landed_between(history: Iterable[Mapping[str, Any]], after: int | None, upto: int) -> list[str]:
    """Raw object keys the ingest commits of bronze in ``(after, upto]`` name (what they appended or replaced).

    Commits without :data:`SOURCE_KEYS` (the empty create, compaction, an erasure's DELETE) add no rows.
    """
    keys: list[str] = []
    for commit in history:
        version = int(commit.get("version", -1))
        if (after is None or version > after) and version <= upto and SOURCE_KEYS in commit:
            keys.extend(json.loads(commit[SOURCE_KEYS]))
    return sorted(set(keys))

"""Event names, payload models and deterministic ids (``featurelake.<noun>.<past-tense verb>``).

Event ids are uuid5 of what happened, so a retried emit collapses into the first one. Emitting is
:func:`featurelake.io.prefect.events.emit`'s job.
"""

from __future__ import annotations

import hashlib
import uuid

from pydantic import BaseModel

from featurelake.core.erasure import SubjectErased

RAW_OBJECT_LANDED = "featurelake.raw-object.landed"
RAW_OBJECT_QUARANTINED = "featurelake.raw-object.quarantined"
BRONZE_APPENDED = "featurelake.bronze-table.appended"
FEATURE_SET_PUBLISHED = "featurelake.feature-set.published"
FEATURE_SET_VALIDATION_FAILED = "featurelake.feature-set.validation-failed"
MODEL_TRAINED = "featurelake.model.trained"
MODEL_PROMOTED = "featurelake.model.promoted"
FEATURE_SET_DRIFTED = "featurelake.feature-set.drifted"
FEATURE_SET_STALE = "featurelake.feature-set.stale"
FEATURE_SET_ROLLED_BACK = "featurelake.feature-set.rolled-back"
ONLINE_STORE_MATERIALIZED = "featurelake.online-store.materialized"
PREDICTIONS_PUBLISHED = "featurelake.predictions.published"
SUBJECT_ERASED = "featurelake.subject.erased"

#: Resource labels of events about one table version: automations and the Event Feed filter on them.
TABLE_URI_LABEL = "featurelake.table-uri"
DELTA_VERSION_LABEL = "featurelake.delta-version"
#: The lake a table belongs to: automations that debounce per lake bucket their events by it.
LAKE_URI_LABEL = "featurelake.lake-uri"

_NAMESPACE = uuid.UUID("6f1c6a52-2c1f-4b8e-9a57-6d2a7f0c1e11")


class RawObjectLanded(BaseModel):
    """An object appeared in the raw bucket (seen by the watcher or forwarded from S3/EventBridge).

    The watcher and the AWS forwarder (``infra/forwarder``) build the same event for the same
    object version, so the two paths collapse into one event in Prefect.
    """

    bucket: str
    key: str
    etag: str
    size: int
    source: str


def raw_object_resource_id(bucket: str, key: str) -> str:
    """The Prefect event resource id of a raw object: ``featurelake.raw-object.<bucket>/<key>``."""
    return f"featurelake.raw-object.{bucket}/{key}"


def raw_object_source(key: str) -> str:
    """The source a raw key belongs to: its first path segment (``transactions/2026-11-01.csv``)."""
    return key.split("/", 1)[0]


def raw_object_event_id(bucket: str, key: str, etag: str) -> uuid.UUID:
    """The id of the landed event for one object version; the ETag is unquoted."""
    return event_id(RAW_OBJECT_LANDED, raw_object_resource_id(bucket, key), etag.strip('"'))


class QuarantineReason(BaseModel):
    """One reason and how many rows of an object got it (reasons name columns and keys, never values)."""

    reason: str
    rows: int


class QuarantinedObject(BaseModel):
    """What one raw object sent to quarantine: its rows, by reason, most frequent first."""

    key: str
    etag: str
    rows: int
    reasons: list[QuarantineReason]
    #: Distinct reasons left out of ``reasons`` to keep the event small (their rows count in ``rows``).
    more_reasons: int = 0


class RawObjectQuarantined(BaseModel):
    """An ingest run sent rows or whole files of one source to quarantine.

    One event per run and source, listing the objects this run committed (a concurrent run's
    objects are in that run's event). Counts and reasons only, never a row's values.
    """

    source: str
    table_uri: str
    delta_version: int | None
    rows_quarantined: int
    objects_quarantined: int
    objects: list[QuarantinedObject]
    #: Objects left out of ``objects`` to keep the event small (their rows count in ``rows_quarantined``).
    more_objects: int = 0


def quarantine_resource_id(source: str) -> str:
    """The Prefect event resource id of a source's quarantine table."""
    return f"featurelake.quarantine-table.{source}"


def objects_digest(objects: list[tuple[str, str]]) -> str:
    """A short digest of (key, ETag) pairs: the discriminator of an event about exactly these object versions."""
    lines = "\n".join(f"{key}@{etag}" for key, etag in sorted(objects))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


class BronzeAppended(BaseModel):
    """New rows landed in a bronze table."""

    source: str
    table_uri: str
    delta_version: int
    rows_accepted: int
    rows_quarantined: int
    source_keys: list[str]


class FeatureSetPublished(BaseModel):
    """A validated feature batch became readable at ``delta_version``."""

    feature_set: str
    feature_set_version: int
    table_uri: str
    delta_version: int
    bronze_version: int
    row_count: int
    suite_hash: str
    fingerprint: str | None = None
    mlflow_run_id: str | None = None
    #: Warn-only expectations this batch failed: published, but flagged.
    warnings: list[str] = []


class FeatureSetValidationFailed(BaseModel):
    """A feature batch failed its suite and was not published."""

    feature_set: str
    feature_set_version: int
    bronze_version: int
    failed_expectations: list[str]
    suite_hash: str | None = None
    quarantine_uri: str | None = None
    rows: int | None = None


class ModelTrained(BaseModel):
    """A model was trained on pinned feature versions and registered."""

    model_name: str
    model_version: str
    feature_set: str
    feature_set_version: int
    delta_version: int
    metrics: dict[str, float]
    #: Whether this version became the champion (see :class:`ModelPromoted` for the comparison).
    promoted: bool = False
    mlflow_run_id: str | None = None


class ModelPromoted(BaseModel):
    """The ``champion`` alias moved to a model version that beat the previous champion."""

    model_name: str
    model_version: str
    previous_version: str | None
    metric: str
    score: float
    previous_score: float | None
    #: "same holdout" (the old champion re-scored on the new holdout), "logged metric" or "no champion".
    compared_on: str
    feature_set: str
    feature_set_version: int
    delta_version: int


class FeatureDrift(BaseModel):
    """One numeric feature's shift between the previous published version and the new batch."""

    feature: str
    psi: float
    ks: float
    breached: bool


class FeatureSetDrifted(BaseModel):
    """A published batch moved away from the previous version beyond the feature set's thresholds."""

    feature_set: str
    feature_set_version: int
    delta_version: int
    reference_delta_version: int
    psi_threshold: float
    ks_threshold: float
    features: list[FeatureDrift]


class FeatureSetStale(BaseModel):
    """No publish of a feature set happened within its maximum staleness."""

    feature_set: str
    feature_set_version: int
    max_staleness_seconds: float
    last_publish_time: str | None = None
    last_delta_version: int | None = None


class FeatureSetRolledBack(BaseModel):
    """A feature table was restored to an earlier version (by a person or a failed flow)."""

    feature_set: str
    feature_set_version: int
    table_uri: str
    restored_to_version: int
    new_delta_version: int
    reason: str
    actor: str


class OnlineStoreMaterialized(BaseModel):
    """The online store now serves a feature set's latest values as of ``delta_version``."""

    feature_set: str
    feature_set_version: int
    table_uri: str
    delta_version: int
    online_table: str
    #: Entities whose latest row the publish's days could change (the ones read and offered).
    entities_considered: int
    #: Items written; items skipped because the store already held the same or a newer row.
    items_written: int
    items_skipped: int
    #: "incremental" (a publish's days), "full" (a whole version, e.g. after a rollback).
    mode: str


class PredictionsPublished(BaseModel):
    """A batch of scores by a model version became readable at ``delta_version`` of its predictions table."""

    model_name: str
    model_version: str
    table_uri: str
    delta_version: int
    rows_scored: int
    #: The input the batch scored (e.g. the bronze table and its Delta version), so a rerun can be matched.
    input_uri: str
    input_version: int
    feature_versions: dict[str, int]
    run_id: str | None = None


PAYLOADS: dict[str, type[BaseModel]] = {
    RAW_OBJECT_LANDED: RawObjectLanded,
    RAW_OBJECT_QUARANTINED: RawObjectQuarantined,
    BRONZE_APPENDED: BronzeAppended,
    FEATURE_SET_PUBLISHED: FeatureSetPublished,
    FEATURE_SET_VALIDATION_FAILED: FeatureSetValidationFailed,
    MODEL_TRAINED: ModelTrained,
    MODEL_PROMOTED: ModelPromoted,
    FEATURE_SET_DRIFTED: FeatureSetDrifted,
    FEATURE_SET_STALE: FeatureSetStale,
    FEATURE_SET_ROLLED_BACK: FeatureSetRolledBack,
    ONLINE_STORE_MATERIALIZED: OnlineStoreMaterialized,
    PREDICTIONS_PUBLISHED: PredictionsPublished,
    SUBJECT_ERASED: SubjectErased,
}


def at(table_uri: str, version: int | str | None) -> str:
    """The discriminator of an event about one table version: ``<table uri>@<version>``.

    Resource ids name the feature set or source, not the lake; two lakes (staging and
    production, or two test runs) reporting to one Prefect server would otherwise produce the
    same ids for different happenings, and Prefect would drop all but the first.
    """
    return f"{table_uri}@{version}"


def event_id(name: str, resource_id: str, discriminator: str) -> uuid.UUID:
    """The deterministic id of an event: the same happening always gets the same id."""
    return uuid.uuid5(_NAMESPACE, f"{name}|{resource_id}|{discriminator}")

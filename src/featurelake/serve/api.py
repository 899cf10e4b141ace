"""The online serving contract: request and response models, and ``answer``, shared by HTTP and Lambda.

One function turns a request into a response so the FastAPI app (:mod:`featurelake.serve.http`)
and the Lambda handler (:mod:`featurelake.serve.lambda_handler`) cannot drift apart. Bad input
is a :class:`RequestError` with an HTTP status and one line saying what is wrong and what to do;
an unknown entity is not an error: its features are null and its status says why.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any, Literal, Protocol

import polars as pl
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from featurelake.core.featureset import FeatureSet
from featurelake.core.refs import FeatureRef

KeyValue = StrictInt | StrictStr
FeatureValue = float | int | str | bool | datetime | None
Status = Literal["ok", "unknown_entity", "expired"]
_INT64 = (-(2**63), 2**63 - 1)


class RequestError(Exception):
    """A request the service refuses: ``status`` is the HTTP status, ``detail`` one line for the caller."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class OnlineFeatures(Protocol):
    """What serving needs of :class:`featurelake.retrieve.featurestore.FeatureStore`."""

    def spec(self, ref: str) -> FeatureSet:
        """The feature set a reference names (KeyError when unknown)."""

    def get_online_features(
        self, entities: pl.DataFrame, features: list[str], *, at: datetime | None = None
    ) -> pl.DataFrame:
        """Online values, with per-set event time, Delta version and status columns."""


class FeaturesRequest(BaseModel):
    """A batch of entities and the features wanted for each, as of ``at`` (default: now)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"entities": [{"customer_id": 42}], "features": ["customer_txn:v1:amount_sum_7d"]}]
        },
    )

    entities: list[dict[str, KeyValue]] = Field(min_length=1, description="Entity keys, one mapping per entity.")
    features: list[str] = Field(min_length=1, description="References like customer_txn:v1 or customer_txn:v1:x.")
    at: AwareDatetime | None = Field(None, description="Request time for the TTL rule (ISO 8601 with a zone).")


class ErrorDetail(BaseModel):
    """A refusal: one line saying what is wrong and what to do."""

    detail: str


class SetMetadata(BaseModel):
    """Where one entity's values of one feature set came from, and whether they are usable."""

    event_time: datetime | None
    delta_version: int | None
    status: Status


class EntityFeatures(BaseModel):
    """One entity's keys, its feature values (by full reference) and per-set metadata."""

    entity: dict[str, KeyValue]
    features: dict[str, FeatureValue]
    metadata: dict[str, SetMetadata]


class FeaturesResponse(BaseModel):
    """The answer, entities in request order; ``features`` lists the value keys in order."""

    features: list[str]
    results: list[EntityFeatures]

    def status_counts(self) -> dict[str, int]:
        """How many (entity, feature set) pairs had each status: what logs say instead of values."""
        return dict(Counter(m.status for r in self.results for m in r.metadata.values()))


def answer(store: OnlineFeatures, request: FeaturesRequest, max_entities: int) -> FeaturesResponse:
    """Check the request against the feature sets, read the online store, shape the response.

    Raises:
        RequestError: 413 over ``max_entities``; 400 for a bad or unknown reference, a missing
            key or a key of the wrong type.
    """
    if len(request.entities) > max_entities:
        raise RequestError(
            413,
            f"{len(request.entities)} entities in one request; the limit is {max_entities} "
            "(FEATURELAKE_SERVE_MAX_ENTITIES): split the batch",
        )
    selected = _selection(store, request.features)
    keys = _key_types([spec for spec, _ in selected])
    frame = _entities_frame(request.entities, keys)
    try:
        result = store.get_online_features(frame, request.features, at=request.at)
    except (KeyError, ValueError) as error:  # refusals of the store itself, e.g. clashing feature names
        raise RequestError(400, _one_line(error)) from None
    names = [f"{spec.ref}:{feature}" for spec, features in selected for feature in features]
    results = [_entity_result(row, keys, selected) for row in result.iter_rows(named=True)]
    return FeaturesResponse(features=names, results=results)


def _selection(store: OnlineFeatures, references: list[str]) -> list[tuple[FeatureSet, list[str]]]:
    """Feature sets with their requested features, in request order (a 400 for any bad reference)."""
    chosen: dict[str, tuple[FeatureSet, list[str]]] = {}
    for text in references:
        try:
            ref, spec = FeatureRef.parse(text), store.spec(text)
            names = list(spec.feature_names) if ref.feature is None else [spec.feature(ref.feature).name]
        except (KeyError, ValueError) as error:
            raise RequestError(400, _one_line(error)) from None
        features = chosen.setdefault(spec.ref, (spec, []))[1]
        features += [n for n in names if n not in features]
    return list(chosen.values())


def _key_types(specs: list[FeatureSet]) -> dict[str, tuple[pl.DataType, str]]:
    """Every entity key the requested sets need, with its dtype and the first set that needs it."""
    keys: dict[str, tuple[pl.DataType, str]] = {}
    for spec in specs:
        for key in spec.entity_keys:
            keys.setdefault(key, (spec.source.columns[key], spec.ref))
    return keys


def _entities_frame(entities: list[dict[str, Any]], keys: dict[str, tuple[pl.DataType, str]]) -> pl.DataFrame:
    """The key columns, typed as the feature sets declare them (a 400 for a missing or mistyped key)."""
    for index, entity in enumerate(entities):
        for key, (dtype, ref) in keys.items():
            _check_key(index, entity, key, dtype, ref)
    return pl.DataFrame({key: [e[key] for e in entities] for key in keys}, schema={k: t for k, (t, _) in keys.items()})


def _check_key(index: int, entity: dict[str, Any], key: str, dtype: pl.DataType, ref: str) -> None:
    if key not in entity:
        raise RequestError(400, f"entity {index} lacks key {key!r}, which {ref} is keyed by; got keys {sorted(entity)}")
    value, integer = entity[key], dtype.is_integer()
    if integer != isinstance(value, int) or (integer and not _INT64[0] <= value <= _INT64[1]):
        expected = "an integer" if integer else "a string"
        raise RequestError(
            400, f"entity {index}: key {key!r} must be {expected} ({ref} keys it as {dtype}), got {value!r}"
        )


def _entity_result(
    row: dict[str, Any], keys: dict[str, tuple[pl.DataType, str]], selected: list[tuple[FeatureSet, list[str]]]
) -> EntityFeatures:
    values: dict[str, FeatureValue] = {}
    metadata: dict[str, SetMetadata] = {}
    for spec, features in selected:
        prefix = f"{spec.name}__v{spec.version}__"
        for feature in features:
            values[f"{spec.ref}:{feature}"] = _json_value(row[feature])
        metadata[spec.ref] = SetMetadata(
            event_time=row[f"{prefix}event_time"],
            delta_version=row[f"{prefix}delta_version"],
            status=row[f"{prefix}status"],
        )
    return EntityFeatures(entity={k: row[k] for k in keys}, features=values, metadata=metadata)


def _json_value(value: Any) -> FeatureValue:
    """JSON has no NaN or infinity: they travel as the strings the online store uses ("nan", "inf", "-inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value  # type: ignore[no-any-return]


def _one_line(error: Exception) -> str:
    """An exception's message on one line (KeyError quotes its argument)."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(text).split())

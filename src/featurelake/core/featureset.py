"""Feature set specifications and the pure computation that applies them.

A feature set is data: a name, an integer definition version, the entity key, the event-time
column, the bronze source it reads and a tuple of features, each a named polars expression.
Expressions are written for the rows of one entity; :func:`compute_features` evaluates them
per entity, so a feature author never repeats the grouping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from featurelake.core.naming import feature_table_path


@dataclass(frozen=True)
class Feature:
    """One output column: its expression, type and the bounds validation enforces."""

    name: str
    expr: pl.Expr
    dtype: pl.DataType
    description: str
    min_value: float | None = None
    max_value: float | None = None
    nullable: bool = False
    tags: tuple[str, ...] = ()

    @classmethod
    def from_function(
        cls,
        function: Callable[[], pl.Expr],
        dtype: pl.DataType,
        description: str,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> Feature:
        """Build a feature whose column name is the function's name."""
        name = function.__name__
        return cls(name, function().alias(name), dtype, description, min_value, max_value)


@dataclass(frozen=True)
class FeatureSet:
    """A versioned contract: which rows (grain) and which columns a feature table holds."""

    name: str
    version: int
    entity: str
    event_time: str
    source: str
    features: tuple[Feature, ...]
    description: str
    owner: str
    ttl: timedelta = field(default=timedelta(days=7))

    @property
    def ref(self) -> str:
        """The short reference used in manifests and logs, e.g. ``customer_txn:v1``."""
        return f"{self.name}:v{self.version}"

    @property
    def table_path(self) -> str:
        """Where the published table lives, relative to the lake root."""
        return feature_table_path(self.name, self.version)

    @property
    def key_columns(self) -> tuple[str, str]:
        """The columns that identify one feature row."""
        return (self.entity, self.event_time)

    def feature(self, name: str) -> Feature:
        """Look up a feature by column name, naming the feature set when it is missing."""
        for candidate in self.features:
            if candidate.name == name:
                return candidate
        raise KeyError(f"feature set {self.ref} has no feature {name!r}")


def compute_features(spec: FeatureSet, source: pl.DataFrame) -> pl.DataFrame:
    """Apply a feature set to source rows: one output row per entity and event time.

    Rows sharing an entity and an event time share every trailing window, so keeping one of
    them loses nothing and makes (entity, event time) a key of the output.
    """
    missing = {spec.entity, spec.event_time} - set(source.columns)
    if missing:
        raise ValueError(f"feature set {spec.ref}: source {spec.source!r} lacks column(s) {sorted(missing)}")
    ordered = source.lazy().sort([spec.entity, spec.event_time])
    columns = [f.expr.over(spec.entity).cast(f.dtype).alias(f.name) for f in spec.features]
    return (
        ordered.select(pl.col(spec.entity), pl.col(spec.event_time), *columns)
        .unique(subset=list(spec.key_columns), keep="last", maintain_order=True)
        .collect()
    )


def output_schema(spec: FeatureSet, source_schema: pl.Schema) -> dict[str, pl.DataType]:
    """The schema a feature table has, for contracts and validation."""
    schema: dict[str, pl.DataType] = {
        spec.entity: source_schema[spec.entity],
        spec.event_time: source_schema[spec.event_time],
    }
    schema.update({f.name: f.dtype for f in spec.features})
    return schema

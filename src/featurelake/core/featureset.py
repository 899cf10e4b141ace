"""Feature set specifications and the pure computation that applies them.

A feature set is data: a name, an integer definition version, the entity keys, the event-time
column, the source contract it reads, a TTL and a tuple of features, each a named polars
expression with a dtype, a description and tags. Expressions are written for the rows of one
entity; :func:`compute_features` evaluates them per entity, so an author never repeats the
grouping.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl

from featurelake.core.contracts import SourceContract
from featurelake.core.naming import feature_table_path
from featurelake.core.rolling import last_of_each_key, rolling_only, separated_time
from featurelake.core.ties import BRONZE_ORDER, sort_with_ties, tie_order

#: Feature tables are partitioned by the UTC calendar day of their event time: backfills replace
#: whole days, and training-set reads skip the days a spine cannot reach.
PARTITION_COLUMN = "event_date"
#: The partition column of tables laid out by month (see featurelake.core.layout): ``YYYY-MM``.
MONTH_COLUMN = "event_month"


@dataclass(frozen=True)
class Feature:
    """One output column: its expression, type, meaning, tags and the bounds validation enforces."""

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
        nullable: bool = False,
        tags: tuple[str, ...] = (),
    ) -> Feature:
        """Build a feature whose column name is the function's name."""
        name = function.__name__
        return cls(name, function().alias(name), dtype, description, min_value, max_value, nullable, tags)


@dataclass(frozen=True)
class DriftPolicy:
    """When a new batch counts as drifted from the previous published version, per numeric feature.

    PSI (population stability index over deciles of the previous version) above ``psi_threshold``
    or the two-sample Kolmogorov-Smirnov statistic above ``ks_threshold`` is a breach. Batches
    smaller than ``min_rows`` (on either side) are not judged: the statistics are noise there.
    """

    psi_threshold: float = 0.2
    ks_threshold: float = 0.1
    min_rows: int = 1_000  # at 200 rows a side, KS > 0.1 fires by chance in ~23 % of same-distribution pairs


@dataclass(frozen=True)
class FeatureSet:
    """A versioned contract: which rows (grain) and which columns a feature table holds.

    ``lookback`` is the longest history any feature reads (its widest window): a backfill of a
    date range reads that much source history before the range so windows start full.
    ``max_staleness`` and ``drift`` are operating policy, not logic: they are not fingerprinted.
    ``tiebreak`` names source columns that decide which of rows sharing entity keys and event time
    wins, after the bronze ingest time and object key (see :mod:`featurelake.core.ties`).
    """

    name: str
    version: int
    entity_keys: tuple[str, ...]
    event_time: str
    source: SourceContract
    features: tuple[Feature, ...]
    description: str
    owner: str
    ttl: timedelta = field(default=timedelta(days=7))
    lookback: timedelta = field(default=timedelta(days=7))
    tags: tuple[str, ...] = ()
    #: How old the latest publish may get before the feature set counts as stale (None: never).
    max_staleness: timedelta | None = None
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    tiebreak: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = _spec_problems(self)
        if problems:
            raise ValueError(f"feature set {self.name}:v{self.version} is invalid: {'; '.join(problems)}")

    @property
    def ref(self) -> str:
        """The short reference used in manifests and logs, e.g. ``customer_txn:v1``."""
        return f"{self.name}:v{self.version}"

    @property
    def table_path(self) -> str:
        """Where the published table lives, relative to the lake root."""
        return feature_table_path(self.name, self.version)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns that identify one feature row: entity keys, then event time."""
        return (*self.entity_keys, self.event_time)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns, in declaration order."""
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        """Look up a feature by column name, naming the feature set when it is missing."""
        for candidate in self.features:
            if candidate.name == name:
                return candidate
        raise KeyError(f"feature set {self.ref} has no feature {name!r}; it has {list(self.feature_names)}")

    def source_columns(self) -> tuple[str, ...]:
        """The source columns the feature set reads: keys, event time, tiebreak and every expression's inputs."""
        read = {*self.key_columns, *self.tiebreak}
        for feature in self.features:
            read.update(feature.expr.meta.root_names())
        return tuple(sorted(read))

    def output_schema(self) -> dict[str, pl.DataType]:
        """The schema of the feature table (without its partition column)."""
        schema: dict[str, pl.DataType] = {c: self.source.columns[c] for c in self.key_columns}
        schema.update({f.name: f.dtype for f in self.features})
        return schema


def longest_window(expr: pl.Expr) -> timedelta:
    """The widest trailing window (``rolling_*_by``) an expression reads; zero when it has none.

    Months count as 31 days: an upper bound is what a lookback needs.
    """
    widest = timedelta(0)
    for size in _window_sizes(json.loads(expr.meta.serialize(format="json"))):
        span = timedelta(days=31 * size.get("months", 0) + 7 * size.get("weeks", 0) + size.get("days", 0))
        widest = max(widest, span + timedelta(microseconds=size.get("nsecs", 0) / 1000))
    return widest


def _window_sizes(node: Any) -> list[dict[str, int]]:
    if isinstance(node, dict):
        found = [node["window_size"]] if isinstance(node.get("window_size"), dict) else []
        return found + [size for value in node.values() for size in _window_sizes(value)]
    if isinstance(node, list):
        return [size for value in node for size in _window_sizes(value)]
    return []


def _spec_problems(spec: FeatureSet) -> list[str]:
    """Mistakes an author can make in a spec, found at import time rather than at build time."""
    problems = []
    time_type = spec.source.columns.get(spec.event_time)
    if time_type is not None and not (isinstance(time_type, pl.Datetime) and time_type.time_zone):
        problems.append(f"event time {spec.event_time!r} is {time_type}; it must be a time-zone-aware Datetime")
    for feature in spec.features:
        window = longest_window(feature.expr)
        if window > spec.lookback:
            problems.append(
                f"feature {feature.name!r} reads a {window} window but lookback is {spec.lookback}; "
                "a backfill would start its windows short: set lookback to at least the widest window"
            )
    if spec.version < 1:
        problems.append(f"version must be a positive integer, got {spec.version}")
    if not spec.entity_keys:
        problems.append("entity_keys is empty")
    missing = [c for c in spec.key_columns if c not in spec.source.columns]
    if missing:
        problems.append(f"source {spec.source.name!r} has no column(s) {missing}")
    for feature in spec.features:
        unknown = sorted(set(feature.expr.meta.root_names()) - set(spec.source.columns))
        if unknown:
            problems.append(
                f"feature {feature.name!r} reads column(s) {unknown} that source {spec.source.name!r} lacks"
            )
    names = [f.name for f in spec.features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        problems.append(f"feature name(s) {duplicated} are declared twice")
    clashing = sorted(set(names) & {*spec.key_columns, PARTITION_COLUMN, MONTH_COLUMN})
    if clashing:
        problems.append(f"feature name(s) {clashing} clash with key or partition columns")
    if spec.ttl <= timedelta(0):
        problems.append(f"ttl must be positive, got {spec.ttl}")
    return problems + _tiebreak_problems(spec)


def _tiebreak_problems(spec: FeatureSet) -> list[str]:
    tiebreak = list(spec.tiebreak)
    problems = []
    if isinstance(spec.tiebreak, str) or len(set(tiebreak)) != len(tiebreak):
        problems.append(f"tiebreak must be a tuple of distinct column names, got {spec.tiebreak!r}")
    unknown = [c for c in tiebreak if c not in spec.source.columns]
    if unknown:
        problems.append(
            f"tiebreak column(s) {unknown} are not columns of source {spec.source.name!r} "
            f"(the bronze columns {list(BRONZE_ORDER)} already come first when present: do not list them)"
        )
    keys = [c for c in tiebreak if c in spec.key_columns]
    if keys:
        problems.append(f"tiebreak column(s) {keys} are key columns, equal on tied rows: they cannot break a tie")
    return problems


def compute_features(spec: FeatureSet, source: pl.DataFrame) -> pl.DataFrame:
    """Apply a feature set to source rows: one output row per entity and event time.

    Rows sharing an entity and an event time share every trailing window, so keeping one of
    them loses nothing and makes (entity, event time) a key of the output; which one is the tie
    rule's (:mod:`featurelake.core.ties`), and ``source`` should hold the bronze ``_ingested_at``
    and ``_source_key`` columns when it comes from bronze. The output is
    sorted by entity keys and event time, the order point-in-time joins read fastest.

    Raises:
        ValueError: naming the feature set and the source columns it needs but did not get.
    """
    missing = sorted(set(spec.source_columns()) - set(source.columns))
    if missing:
        raise ValueError(f"feature set {spec.ref}: source {spec.source.name!r} lacks column(s) {missing}")
    keys, time = list(spec.entity_keys), spec.event_time
    # Tied rows (same keys and time) share every window; the tie rule orders them so the last,
    # the one kept, and the summation order inside windows do not depend on threads or input order.
    order = tie_order(spec.key_columns, spec.source_columns(), spec.tiebreak, source.columns)
    ordered = sort_with_ties(source, list(spec.key_columns), order)
    fast = [f for f in spec.features if rolling_only(f.expr, time)]
    separated = _separated_time(spec, ordered) if fast and ordered.height else None
    if separated is None:
        fast = []
    slow = [f for f in spec.features if f not in fast]
    parts = [ordered.lazy().select(*spec.key_columns)]
    if fast:  # one pass over the separated time axis (see featurelake.core.rolling)
        columns = [f.expr.cast(f.dtype).alias(f.name) for f in fast]
        parts.append(ordered.lazy().with_columns(separated).select(columns))
    if slow:
        parts.append(ordered.lazy().select([f.expr.over(keys).cast(f.dtype).alias(f.name) for f in slow]))
    combined = pl.concat(parts, how="horizontal").select(*spec.key_columns, *spec.feature_names)
    features = combined.collect()
    last = features.select(last_of_each_key(list(spec.key_columns))).to_series()
    return features if last.all() else features.filter(last)  # filtering copies every column: only when needed


def _separated_time(spec: FeatureSet, ordered: pl.DataFrame) -> pl.Expr | None:
    keys, time = list(spec.entity_keys), spec.event_time
    bounds = ordered.select(
        pl.col(time).min().alias("first"),
        pl.col(time).max().alias("last"),
        pl.struct(keys).rle_id().max().alias("entities")
        if len(keys) > 1
        else pl.col(keys[0]).rle_id().max().alias("entities"),
    ).row(0, named=True)
    widest = max((longest_window(f.expr) for f in spec.features), default=timedelta(0))
    return separated_time(keys, time, bounds["first"], bounds["last"], widest, int(bounds["entities"]) + 1)


def with_partition(spec: FeatureSet, features: pl.DataFrame) -> pl.DataFrame:
    """Add the partition column (UTC day of the event time) a feature table is stored with."""
    return features.with_columns(pl.col(spec.event_time).dt.convert_time_zone("UTC").dt.date().alias(PARTITION_COLUMN))

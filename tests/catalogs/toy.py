"""A one-feature toy feature set over a one-table source, for tests and benches that need a published table.

``toy:v1`` keys ``user_id``, times ``event_time``, and exposes ``score``; :func:`toy_spec` varies
the name, version or the feature's expression (another expression is another fingerprint).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from featurelake.core.contracts import SourceContract
from featurelake.core.featureset import Feature, FeatureSet

UTC_US = pl.Datetime("us", "UTC")
SOURCE = SourceContract(
    name="events",
    columns={"user_id": pl.String(), "event_time": UTC_US, "score": pl.Float64()},
    required=("user_id", "event_time"),
    primary_key=("user_id", "event_time"),
    event_time="event_time",
)


def toy_spec(name: str = "toy", version: int = 1, expression: pl.Expr | None = None) -> FeatureSet:
    """The toy feature set; ``expression`` computes ``score`` (the source's ``score`` by default)."""
    return FeatureSet(
        name=name,
        version=version,
        entity_keys=("user_id",),
        event_time="event_time",
        source=SOURCE,
        features=(Feature("score", pl.col("score") if expression is None else expression, pl.Float64(), "a score"),),
        description="toy",
        owner="tests",
        ttl=timedelta(days=2),
    )

"""Feast's offline ``get_historical_features``, the training-set baseline that runs in Feast's environment.

Feast pins pandas, pyarrow and numpy below what featurelake uses, so this engine's child runs
under ``uv run --frozen --project bench/feast`` and may import only the standard library,
Feast and what Feast brings (pandas, pyarrow, duckdb): no polars, no featurelake.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from harness import Job

from stages.artifacts import KEY, SPINE_TIME, TIME
from stages.base import Context
from stages.build import FEATURES

TTL = timedelta(days=7)  # customer_txn's TTL


def prepare_feast(
    ctx: Context,
    spine_file: str,
    *,
    rows_file: str = "features.parquet",
    key: str = KEY,
    features: tuple[str, ...] = tuple(FEATURES),
    ttl: timedelta = TTL,
    name: str = "customer_txn",
    spine_time: str = SPINE_TIME,
) -> Job:
    """Feast's offline store (DuckDB) over the feature rows as one parquet file; set up untimed.

    The repository (registry, entity, feature view with the TTL) is applied before the
    clock starts; the timed call is ``get_historical_features(...).to_arrow()``, Feast's
    cheapest way to a materialised result. Columns named ``*_count_*`` or ``readings`` are Int64.
    """
    import pyarrow.parquet as pq
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    repo = ctx.out_dir / "feast-repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FEAST_CONFIG.format(repo=repo))
    entity = Entity(name="entity", join_keys=[key], value_type=ValueType.STRING)
    source = FileSource(name=f"{name}_rows", path=str(ctx.data_dir / rows_file), timestamp_field=TIME)
    schema = [Field(name=f, dtype=Int64 if "_count_" in f or f == "readings" else Float64) for f in features]
    view = FeatureView(name=name, entities=[entity], ttl=ttl, schema=schema, source=source, online=False)
    feast_store = FeatureStore(repo_path=str(repo))
    feast_store.apply([entity, view])
    entity_df = pq.read_table(ctx.data_dir / spine_file).to_pandas().rename(columns={spine_time: "event_timestamp"})
    refs = [f"{name}:{feature}" for feature in features]
    return Job(lambda: feast_store.get_historical_features(entity_df=entity_df, features=refs).to_arrow())


FEAST_CONFIG = """\
project: featurelake_bench
registry: {repo}/registry.db
provider: local
offline_store:
  type: duckdb
online_store:
  type: sqlite
  path: {repo}/online.db
entity_key_serialization_version: 3
"""

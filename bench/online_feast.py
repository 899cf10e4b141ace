"""Feast 0.67's side of ``bench/online.py``: ``materialize`` and ``get_online_features`` on one online store.

Runs in Feast's environment (``uv run --frozen --project bench/feast``), so it imports only the
standard library, the bench's standard-library helpers and Feast (no polars, no featurelake):

    uv run --frozen --project bench/feast python bench/online_feast.py --store dynamodb ...

The repository (entity, a FileSource over the same ``features.parquet`` the published table was
written from, the feature view with customer_txn's 7-day TTL) is applied untimed; ``apply``
creates the DynamoDB table on the moto endpoint. ``materialize`` over the whole time range is
timed once (Feast's offline store, DuckDB, picks the latest row per entity and its online store
writes them); then the same requests as featurelake's, ``get_online_features(...).to_dict()``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a directory of scripts, not a package
from online import BATCH, FEATURES, KEY, NAME, TIME, child_record, latencies, requests_of

TTL = timedelta(days=7)  # customer_txn's TTL
STORES = {
    "dynamodb": "  type: dynamodb\n  region: us-east-1\n  endpoint_url: {endpoint}\n",
    "sqlite": "  type: sqlite\n  path: {repo}/online.db\n",
}
CONFIG = """\
project: featurelake_bench
registry: {repo}/registry.db
provider: local
offline_store:
  type: duckdb
online_store:
{online}entity_key_serialization_version: 3
"""


def repository(args: argparse.Namespace) -> Any:
    """Apply the entity and feature view (untimed); the Feast store."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    repo = args.out_dir / f"feast-{args.store}-repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    online = STORES[args.store].format(endpoint=args.endpoint, repo=repo)
    (repo / "feature_store.yaml").write_text(CONFIG.format(repo=repo, online=online))
    entity = Entity(name="customer", join_keys=[KEY], value_type=ValueType.STRING)
    source = FileSource(name=f"{NAME}_rows", path=str(args.data_dir / "features.parquet"), timestamp_field=TIME)
    schema = [Field(name=f, dtype=Int64 if "_count_" in f else Float64) for f in FEATURES]
    view = FeatureView(name=NAME, entities=[entity], ttl=TTL, schema=schema, source=source, online=True)
    store = FeatureStore(repo_path=str(repo))
    store.apply([entity, view])
    return store


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Materialize (timed once), then 1-entity and 100-entity online reads."""
    requests = requests_of(args.out_dir)
    store = repository(args)
    newest = datetime.fromtimestamp(requests["at_epoch_s"], UTC)
    started, cpu = time.perf_counter(), time.process_time()
    store.materialize(start_date=newest - timedelta(days=3650), end_date=newest)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    rows, items = requests["rows"], requests["entities"]
    materialized = {"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows, "items": items}
    materialized |= {"rows_per_s": rows / seconds, "items_per_s": items / seconds}
    print(f"[feast {args.store}] materialize: {json.dumps(materialized)}", flush=True)
    refs = [f"{NAME}:{feature}" for feature in FEATURES]

    def ask(keys: list[str]) -> dict[str, Any]:
        return dict(store.get_online_features(features=refs, entity_rows=[{KEY: k} for k in keys]).to_dict())

    sample = ask(requests["batches"][0])
    missing = sum(value is None for value in sample["amount_sum_7d"])
    (args.out_dir / f"feast-{args.store}-sample.json").write_text(json.dumps(sample, default=str))
    online = {
        "one_entity": latencies(lambda key: ask([key]), requests["single"], args.warmup),
        f"{BATCH}_entities": latencies(ask, requests["batches"], args.warmup),
    }
    print(f"[feast {args.store}] online: {json.dumps(online)}", flush=True)
    return {"materialize": materialized, "in_process": online, "checks": {"null_amount_sum_7d_in_sample": missing}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=sorted(STORES), required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    record = child_record(f"feast-{args.store}", lambda: measure(args))
    (args.out_dir / f"feast-{args.store}.json").write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()

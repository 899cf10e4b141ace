"""A model's lineage as text, and the model-version tags lineage and vacuum read (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

from featurelake.core import model_tags as tags
from featurelake.lineage.models import LineageChain
from featurelake.lineage.records import BronzeVersion, FeatureVersion, RawObjectRef, TrainingSetRecord

OBJECTS = (
    RawObjectRef("transactions/day=1/a.parquet", "e1", 10, True),
    RawObjectRef("transactions/day=2/b.parquet", "e2", 5, False, "rewritten since"),
)
BRONZE = BronzeVersion("transactions", "s3://lake/bronze/transactions", 4, datetime(2026, 1, 2, tzinfo=UTC), OBJECTS)
FEATURE = FeatureVersion(
    "customer_txn:v1", "s3://lake/features/customer_txn/v1", 3, None, "publish", "fp", "sh", "rev", "fr", "br", BRONZE
)
LABELS = BronzeVersion("labels", "s3://lake/bronze/labels", 2, None, OBJECTS[:1])
CHAIN = LineageChain(
    "fraud", "3", "run1", None, TrainingSetRecord(100, "event_time", ("a", "b"), (FEATURE,), LABELS), ("w1",)
)


def test_the_chain_renders_as_a_tree_down_to_the_raw_objects() -> None:
    assert CHAIN.render_text().splitlines() == [
        "model fraud v3  (run run1, flow run ?)",
        "├── training set: 100 spine rows, event_time a .. b",
        "│   ├── feature set customer_txn:v1 @ Delta version 3  s3://lake/features/customer_txn/v1",
        "│   │   ├── publish ?; fingerprint fp; suite sh; code rev; flow run fr; build run br",
        "│   │   └── bronze transactions @ Delta version 4  s3://lake/bronze/transactions  "
        "(2 raw objects, 15 rows, committed 2026-01-02T00:00:00+00:00)",
        "│   │       ├── transactions/day=1/a.parquet  ETag e1  10 rows",
        "│   │       └── transactions/day=2/b.parquet  ETag e2  5 rows  ! rewritten since",
        "│   └── labels (spine)",
        "│       └── bronze labels @ Delta version 2  s3://lake/bronze/labels  (1 raw objects, 10 rows, committed ?)",
        "│           └── transactions/day=1/a.parquet  ETag e1  10 rows",
        "└── warnings",
        "    └── ! w1",
    ]


def test_the_chain_as_json_and_its_raw_objects() -> None:
    assert CHAIN.raw_objects() == {("transactions/day=1/a.parquet", "e1"), ("transactions/day=2/b.parquet", "e2")}
    body = CHAIN.as_dict()
    assert body["training_set"]["feature_sets"][0]["bronze"]["committed_at"] == "2026-01-02T00:00:00+00:00"
    assert body["training_set"]["spine_time_range"] == ["a", "b"]


def test_pinned_feature_sets_skip_malformed_entries() -> None:
    pinned = {tags.FEATURE_SETS: "customer_txn:v1@3, merchant:v2@10,,broken,nover@,x@y"}
    assert tags.pinned_feature_sets(pinned) == [("customer_txn:v1", 3), ("merchant:v2", 10)]
    assert tags.pinned_feature_sets({}) == []


def test_a_model_of_another_lake_is_not_ours_and_an_untagged_one_is() -> None:
    assert tags.in_lake({tags.FEATURE_TABLE: "s3://lake/features/customer_txn/v1"}, "s3://lake/")
    assert not tags.in_lake({tags.FEATURE_TABLE: "s3://lake-b/features/customer_txn/v1"}, "s3://lake")
    assert tags.in_lake({}, "s3://lake")

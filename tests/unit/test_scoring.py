"""Batch scoring's pure parts: which bronze rows are new, what a batch records and announces, its lineage text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from featurelake.core import commits, events
from featurelake.core.naming import predictions_path
from featurelake.deploy.prefect_file import load_deployment_specs
from featurelake.lineage.predictions import PredictionLineage
from featurelake.serve import predictions
from featurelake.serve.scoring import ScoreResult
from flows.score import summary_markdown
from tests.unit.test_lineage_rendering import BRONZE, CHAIN, FEATURE


def _ingest(version: int, *keys: str) -> dict[str, Any]:
    return {"version": version, commits.SOURCE_KEYS: json.dumps(list(keys))}


HISTORY = [  # newest first, as delta-rs gives it
    {"version": 4, commits.OPERATION: "compact"},
    _ingest(3, "t/c", "t/d"),
    _ingest(2, "t/b"),
    _ingest(1, "t/a"),
    {"version": 0, commits.OPERATION: "create-table"},
]


@pytest.mark.parametrize(
    ("after", "upto", "expected"),
    [
        (None, 4, ["t/a", "t/b", "t/c", "t/d"]),  # first batch: everything up to now
        (1, 4, ["t/b", "t/c", "t/d"]),
        (2, 2, []),  # already scored
        (1, 2, ["t/b"]),  # a later landing is not part of this batch
        (3, 4, []),  # compaction adds no rows
    ],
)
def test_the_rows_not_scored_yet_are_those_of_the_ingests_after_the_recorded_version(
    after: int | None, upto: int, expected: list[str]
) -> None:
    assert commits.keys_landed_between(HISTORY, after, upto) == expected


def test_a_batch_commit_names_its_model_input_span_and_feature_versions() -> None:
    first = predictions.batch_metadata("fraud", "3", ("s3://lake/bronze/t", None, 7), {"b:v1": 2, "a:v2": 9}, 40)
    assert first == {
        predictions.MODEL: "fraud",
        predictions.MODEL_VERSION: "3",
        predictions.INPUT_URI: "s3://lake/bronze/t",
        predictions.INPUT_VERSION: "7",
        predictions.FEATURE_VERSIONS: "a:v2@9,b:v1@2",
        predictions.ROWS_SCORED: "40",
    }
    later = predictions.batch_metadata("fraud", "3", ("s3://lake/bronze/t", 7, 9), {}, 1)
    assert later[predictions.INPUT_AFTER] == "7"
    assert predictions.app_id("fraud") == predictions_path("fraud") == "predictions/fraud"


def test_only_a_written_batch_is_announced() -> None:
    written = ScoreResult("fraud", "3", "s3://lake/bronze/t", 7, 40, 5, {"a:v1": 2}, "scored")
    payload = written.event("s3://lake/predictions/fraud", "run-1")
    assert isinstance(payload, events.PredictionsPublished)
    assert (payload.delta_version, payload.input_version, payload.rows_scored) == (5, 7, 40)
    assert payload.feature_versions == {"a:v1": 2}
    nothing = ScoreResult("fraud", None, "s3://lake/bronze/t", 7, 0, None, {}, "bronze version 7 already scored")
    assert nothing.event("s3://lake/predictions/fraud", "run-1") is None
    assert "bronze version 7 already scored" in summary_markdown(nothing, "s3://lake/predictions/fraud")
    assert "| rows scored | 40 |" in summary_markdown(written, "s3://lake/predictions/fraud")


def test_a_batch_lineage_shows_its_rows_its_features_then_the_model_chain() -> None:
    batch = PredictionLineage("s3://lake/predictions/fraud", 5, 15, BRONZE, (FEATURE,), CHAIN, ())
    lines = batch.render_text().splitlines()
    assert lines[0] == "predictions s3://lake/predictions/fraud@5  (15 rows scored)"
    assert lines[1:3] == [
        "├── scored rows",
        "│   └── bronze transactions @ Delta version 4  s3://lake/bronze/transactions  "
        "(2 raw objects, 15 rows, committed 2026-01-02T00:00:00+00:00)",
    ]
    assert "├── features joined at scoring" in lines
    assert "├── model fraud version 3  (run run1)" in lines
    assert lines[-2:] == ["└── warnings", "    └── ! w1"]  # the model's warnings are the batch's too
    assert batch.as_dict()["model"]["model_version"] == "3"


def test_the_score_deployment_starts_on_a_promotion_new_transactions_and_their_features() -> None:
    (deployment,) = [d for d in load_deployment_specs() if d["entrypoint"] == "flows/score.py:score"]
    triggers = {t["expect"][0]: t for t in deployment["triggers"]}
    assert set(triggers) == {events.MODEL_PROMOTED, events.BRONZE_APPENDED, events.FEATURE_SET_PUBLISHED}
    assert triggers[events.MODEL_PROMOTED]["parameters"] == {"model": "{{ event.payload.model_name }}"}
    assert triggers[events.MODEL_PROMOTED]["match"] == {"prefect.resource.id": "featurelake.model.featurelake-fraud"}
    assert triggers[events.BRONZE_APPENDED]["match"] == {"prefect.resource.id": "featurelake.bronze-table.transactions"}
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}

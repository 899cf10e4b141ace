"""The predictions table of a model: where batches go, what their commits say, which bronze rows are new.

Pure helpers plus two reads of the lake, kept apart from :mod:`featurelake.serve.scoring` so the
idempotency rule (one batch per bronze input version, recorded as a Delta app transaction) and the
"rows not scored yet" rule are unit-testable.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from featurelake.core import commits
from featurelake.core.naming import predictions_path
from featurelake.ingest.bronze import SOURCE_KEY
from featurelake.io.delta.store import DeltaStore

#: Commit metadata of a prediction batch (move to core/commits.py with the other keys).
MODEL = "featurelake.model"
MODEL_VERSION = "featurelake.model_version"
INPUT_URI = "featurelake.input_uri"
INPUT_VERSION = "featurelake.input_version"
#: The bronze version the previous batch had scored up to (absent on the first batch).
INPUT_AFTER = "featurelake.input_after"
FEATURE_VERSIONS = "featurelake.feature_versions"
ROWS_SCORED = "featurelake.rows_scored"


def app_id(model: str) -> str:
    """The app transaction id under which a predictions table records the bronze version it scored up to."""
    return predictions_path(model)


def scored_up_to(store: DeltaStore, model: str) -> int | None:
    """The bronze version the last batch scored, or None before the first batch."""
    return store.app_version(predictions_path(model), app_id(model))


def unscored_rows(store: DeltaStore, bronze: str, after: int | None, upto: int, columns: list[str]) -> pl.DataFrame:
    """The bronze rows at ``upto`` that the ingests after version ``after`` appended (only ``columns``)."""
    keys = commits.keys_landed_between(store.history(bronze), after, upto)
    table = store.read(bronze, upto, columns=[*columns, SOURCE_KEY])
    return table.filter(pl.col(SOURCE_KEY).is_in(keys)).select(columns)


def feature_versions_text(pinned: Mapping[str, int]) -> str:
    """``ref@delta_version,...`` in reference order: the same form a model version's tags use."""
    return ",".join(f"{ref}@{version}" for ref, version in sorted(pinned.items()))


def batch_metadata(
    model: str,
    model_version: str,
    input_span: tuple[str, int | None, int],
    pinned: Mapping[str, int],
    rows: int,
) -> dict[str, str]:
    """What a batch's commit says about itself (lineage starts from it).

    ``input_span`` is the bronze table's URI and the versions ``(after, upto]`` whose rows it scored.
    """
    input_uri, after, input_version = input_span
    since = {} if after is None else {INPUT_AFTER: str(after)}
    return since | {
        MODEL: model,
        MODEL_VERSION: model_version,
        INPUT_URI: input_uri,
        INPUT_VERSION: str(input_version),
        FEATURE_VERSIONS: feature_versions_text(pinned),
        ROWS_SCORED: str(rows),
    }

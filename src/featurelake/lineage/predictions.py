"""Lineage from a prediction batch: batch → model version → feature set versions → bronze → raw objects.

The batch's commit in ``predictions/<model>`` names what it used (the model version, the feature
versions it joined, the bronze versions ``(after, upto]`` it scored); each hop is then the walk
:mod:`featurelake.lineage.models` already makes, so a batch and a model are traced alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from featurelake.core import commits, model_tags
from featurelake.core.naming import feature_table_path, predictions_path
from featurelake.io.delta.store import DeltaStore
from featurelake.lineage import render
from featurelake.lineage.models import (
    LineageChain,
    bronze_objects,
    commit_at,
    feature_version,
    jsonable,
    lake_path,
    model_lineage,
)
from featurelake.lineage.records import BronzeVersion, FeatureVersion
from featurelake.serve import predictions
from featurelake.settings import Settings


@dataclass(frozen=True)
class PredictionLineage:
    """One batch of scores and everything behind it."""

    table_uri: str
    delta_version: int
    rows_scored: int | None
    scored: BronzeVersion | None
    feature_sets: tuple[FeatureVersion, ...]
    model: LineageChain
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, for ``--json``."""
        return jsonable(asdict(self))  # type: ignore[no-any-return]

    def render_text(self) -> str:
        """The batch as an indented tree, ending with the model's own chain."""
        title = f"predictions {self.table_uri}@{self.delta_version}  ({self.rows_scored} rows scored)"
        model = self.model
        model_title = f"model {model.model_name} version {model.model_version}  (run {model.run_id})"
        warnings = [*self.warnings, *model.warnings]
        return render.render_batch(title, self.scored, self.feature_sets, (model_title, model.training_set), warnings)


def prediction_lineage(settings: Settings, model: str, delta_version: int) -> PredictionLineage:
    """Walk the batch that made ``delta_version`` of ``predictions/<model>`` back to raw objects.

    Raises:
        KeyError: when that version is not a prediction batch (naming the table and version).
    """
    store, path = DeltaStore(settings), predictions_path(model)
    warnings: list[str] = []
    commit = commit_at(store, path, delta_version) or {}
    if predictions.MODEL_VERSION not in commit:
        raise KeyError(
            f"{store.uri(path)} has no prediction batch at version {delta_version}; "
            "`featurelake history` lists its versions"
        )
    pinned = model_tags.pinned_feature_sets({model_tags.FEATURE_SETS: commit.get(predictions.FEATURE_VERSIONS, "")})
    features = tuple(feature_version(settings, store, _entry(settings, ref, v), warnings) for ref, v in pinned)
    scored = _scored(settings, store, commit, warnings)
    chain = model_lineage(settings, model, str(commit[predictions.MODEL_VERSION]))
    rows = commit.get(predictions.ROWS_SCORED)
    return PredictionLineage(
        store.uri(path), delta_version, None if rows is None else int(rows), scored, features, chain, tuple(warnings)
    )


def _entry(settings: Settings, ref: str, delta_version: int) -> dict[str, Any]:
    """A manifest-like entry for one feature version the batch joined."""
    name, _, set_version = ref.partition(":v")
    uri = settings.table_uri(feature_table_path(name, int(set_version)))
    return {"ref": ref, "table_uri": uri, "delta_version": delta_version}


def _scored(settings: Settings, store: DeltaStore, commit: dict[str, Any], warnings: list[str]) -> BronzeVersion | None:
    """The bronze input at the version scored, keeping only the raw objects landed in the batch's span."""
    uri, upto = commit.get(predictions.INPUT_URI), commit.get(predictions.INPUT_VERSION)
    if uri is None or upto is None:
        warnings.append("the batch's commit names no input table")
        return None
    path = lake_path(settings, str(uri))
    bronze = bronze_objects(store, path.rsplit("/", 1)[-1], int(upto), warnings)
    after = commit.get(predictions.INPUT_AFTER)
    keys = set(commits.keys_landed_between(store.history(path), None if after is None else int(after), int(upto)))
    return replace(bronze, objects=tuple(o for o in bronze.objects if o.key in keys))

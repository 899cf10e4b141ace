"""Batch scoring: the bronze rows not scored yet, their point-in-time features, the champion's scores.

A batch reads the bronze table of the model's feature source (the rows a model is asked about,
e.g. transactions) from the version the predictions table last recorded up to the latest, joins
features through
:meth:`FeatureStore.get_training_set` (the path training used, so serving cannot skew from it) and
appends one commit to ``predictions/<model>`` carrying the bronze version as an app transaction,
checked first: a rerun on the same input, or a duplicate trigger, writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from featurelake.core import commits, events
from featurelake.core.contracts import SourceContract
from featurelake.core.modelspec import ModelSpec
from featurelake.core.naming import bronze_path, predictions_path
from featurelake.io.delta.store import AppTransaction, CommitConflictError, DeltaStore
from featurelake.io.mlflow import registry
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.serve import predictions
from featurelake.settings import Settings
from featurelake.train.trainers import feature_matrix, positive_scores

SCORE = "score"


@dataclass(frozen=True)
class ScoreResult:
    """What one scoring run did; ``delta_version`` is None when it wrote nothing (nothing new, or no champion)."""

    model: str
    model_version: str | None
    input_uri: str
    input_version: int | None
    rows_scored: int
    delta_version: int | None
    feature_versions: dict[str, int]
    reason: str

    def event(self, table_uri: str, run_id: str | None) -> events.PredictionsPublished | None:
        """The ``featurelake.predictions.published`` payload, or None when nothing was published."""
        if self.delta_version is None or self.model_version is None or self.input_version is None:
            return None
        return events.PredictionsPublished(
            model_name=self.model,
            model_version=self.model_version,
            table_uri=table_uri,
            delta_version=self.delta_version,
            rows_scored=self.rows_scored,
            input_uri=self.input_uri,
            input_version=self.input_version,
            feature_versions=self.feature_versions,
            run_id=run_id,
        )


def score(
    settings: Settings, store: DeltaStore, features: FeatureStore, spec: ModelSpec, run_tags: dict[str, str]
) -> ScoreResult:
    """Score the bronze rows of the model's input source landed since the last batch with the champion.

    Two runs racing (a CLI run beside the deployment's) leave each row once: a batch replaces
    the rows of the input version it scored, and a commit delta-rs refuses as conflicting is
    looked at again, scoring only what the winner left (usually nothing).

    Raises:
        ValueError: when the champion cannot be loaded or names inputs the training set lacks.
    """
    try:
        return _score_once(settings, store, features, spec, run_tags)
    except CommitConflictError:
        return _score_once(settings, store, features, spec, run_tags)


def _score_once(
    settings: Settings, store: DeltaStore, features: FeatureStore, spec: ModelSpec, run_tags: dict[str, str]
) -> ScoreResult:
    """One look at what is unscored, and one batch (or none)."""
    source = input_source(features, spec)
    bronze = bronze_path(source.name)
    after, upto, reason = _span(store, features, spec, bronze)
    nothing = ScoreResult(spec.name, None, store.uri(bronze), upto, 0, None, {}, reason)
    champion = None if upto is None else registry.champion(settings, spec.name)
    if upto is None or champion is None:
        return nothing if upto is None else replace(nothing, reason=f"model {spec.name!r} has no champion yet")
    rows = predictions.unscored_rows(store, bronze, after, upto, identity_columns(features, spec))
    spine = rows.drop_nulls().unique(maintain_order=True)
    if spine.is_empty():
        return replace(nothing, reason=f"no new rows in bronze versions after {after} up to {upto}")
    training = features.get_training_set(
        spine, champion_features(settings, spec, champion.version), spine_time=source.event_time
    )
    pinned = {e["ref"]: int(e["delta_version"]) for e in training.manifest["feature_sets"]}
    frame = _scored(training.frame, spine.columns, champion, training.feature_columns)
    batch = replace(nothing, model_version=champion.version, feature_versions=pinned, reason="scored")
    return _write(store, batch, after, frame, run_tags)


def _span(
    store: DeltaStore, features: FeatureStore, spec: ModelSpec, bronze: str
) -> tuple[int | None, int | None, str]:
    """The bronze versions ``(after, upto]`` to score now; ``upto`` is None (and the reason says why) when none."""
    after, latest = predictions.scored_up_to(store, spec.name), store.version(bronze)
    if latest is None:
        return after, None, f"bronze table {store.uri(bronze)} does not exist yet"
    built = features_built_up_to(store, features, spec)
    if built is None:
        return after, None, f"the features of {spec.name!r} are not published yet"
    upto = min(latest, built)
    if after is not None and after >= upto:
        waiting = f"; bronze version {latest} waits for its features to be published" if built < latest else ""
        return after, None, f"bronze version {upto} already scored{waiting}"
    return after, upto, ""


def _write(
    store: DeltaStore, batch: ScoreResult, after: int | None, frame: pl.DataFrame, run_tags: dict[str, str]
) -> ScoreResult:
    """Write the batch as one commit carrying its audit and, as the app transaction, the bronze version it scored.

    The write replaces the rows of its input version (``input_version = upto``) rather than
    appending: two runs that both found the version unscored (their check and their write see
    different snapshots, so Delta's conflict check may not stop the second) leave its rows once.
    """
    upto, model_version = int(batch.input_version or 0), str(batch.model_version)
    frame = frame.with_columns(
        pl.lit(model_version).alias("model_version"),
        pl.lit(predictions.feature_versions_text(batch.feature_versions)).alias("feature_versions"),
        pl.lit(run_tags.get(commits.FLOW_RUN_ID)).cast(pl.String).alias("run_id"),
        pl.lit(upto).cast(pl.Int64).alias("input_version"),
    )
    span = (batch.input_uri, after, upto)
    record = predictions.batch_metadata(batch.model, model_version, span, batch.feature_versions, frame.height)
    version = store.write(
        predictions_path(batch.model),
        frame,
        mode="overwrite",
        predicate=f"input_version = {upto}",
        metadata={**run_tags, **record},
        app_transaction=AppTransaction(predictions.app_id(batch.model), upto),
    )
    return replace(batch, rows_scored=frame.height, delta_version=version)


def features_built_up_to(store: DeltaStore, features: FeatureStore, spec: ModelSpec) -> int | None:
    """The newest bronze version every feature set of the model has published (None: one has published none).

    Rows landed after it are left for a later batch: scored now, their own features would be missing
    (the build has not run yet), and a scored row is never scored again.
    """
    built = [
        store.app_version(features.spec(ref).table_path, commits.build_app_id(features.spec(ref)))
        for ref in spec.features
    ]
    return None if None in built else min(v for v in built if v is not None)


def input_source(features: FeatureStore, spec: ModelSpec) -> SourceContract:
    """The source whose new rows a batch scores: that of the model's first feature set (``transactions``).

    Raises:
        ValueError: when the model's feature sets read different sources (which one to score is ambiguous).
    """
    sources = {features.spec(ref).source.name: features.spec(ref).source for ref in spec.features}
    if len(sources) != 1:
        raise ValueError(
            f"model {spec.name!r} reads features of several sources {sorted(sources)}; batch scoring needs one "
            "input source: score a model whose feature sets share their source"
        )
    return next(iter(sources.values()))


def identity_columns(features: FeatureStore, spec: ModelSpec) -> list[str]:
    """What names a prediction: the input's primary key, every entity key the features join on, its event time."""
    source = input_source(features, spec)
    keys = sorted({k for ref in spec.features for k in features.spec(ref).entity_keys})
    return list(dict.fromkeys([*source.primary_key, *keys, source.event_time]))


def champion_features(settings: Settings, spec: ModelSpec, version: str) -> list[str]:
    """The feature references the champion was trained on (its run's ``features`` param), else the spec's."""
    params = registry.model_version_record(settings, spec.name, version)["params"]
    recorded = [f for f in str(params.get("features", "")).split(",") if f]
    return recorded or list(spec.features)


def _scored(frame: pl.DataFrame, identity: list[str], champion: registry.Champion, columns: list[str]) -> pl.DataFrame:
    """The identity columns and the champion's positive-class score, fed the columns it was trained on."""
    if champion.model is None:
        raise ValueError(
            f"the champion (version {champion.version}) cannot be loaded from MLflow; "
            "check its trainer's code is importable, or promote another version"
        )
    inputs = champion.input_columns or columns
    missing = sorted(set(inputs) - set(frame.columns))
    if missing:
        raise ValueError(f"the champion (version {champion.version}) needs columns the features lack: {missing}")
    scores = positive_scores(champion.model, feature_matrix(frame, inputs))
    return frame.select(identity).with_columns(pl.Series(SCORE, scores, dtype=pl.Float64))

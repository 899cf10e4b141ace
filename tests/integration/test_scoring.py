"""Batch scoring on the local stack: score once, a rerun is a no-op, new bronze rows alone are scored, lineage."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import polars as pl
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import catalog, events
from featurelake.core.naming import predictions_path
from featurelake.io.delta.store import DeltaStore
from featurelake.lineage.predictions import prediction_lineage
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.serve import scoring
from featurelake.serve.predictions import scored_up_to
from featurelake.settings import Settings
from features.models import FRAUD_MODEL
from flows.build_features import build_features
from flows.ingest import ingest
from flows.retrain import retrain
from flows.score import score
from tests.integration.helpers import by_id, demo_objects, upload, wait_for_events


def _split_by_day(objects: dict[str, bytes], days: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    early = {k: v for k, v in objects.items() if not k.startswith("transactions/")}
    txn_keys = sorted(k for k in objects if k.startswith("transactions/"))
    early |= {k: objects[k] for k in txn_keys[:days]}
    return early, {k: objects[k] for k in txn_keys[days:]}


def test_score_new_rows_once_with_the_champion_and_trace_the_batch(settings: Settings) -> None:
    store = DeltaStore(settings)
    assert score(FRAUD_MODEL.name)["rows_scored"] == 0  # nothing ingested, no champion: nothing written
    early, rest = _split_by_day(demo_objects(), days=4)
    day_six = max(k for k in rest if k.startswith("transactions/"))
    late, last = {k: v for k, v in rest.items() if k != day_six}, {day_six: rest[day_six]}
    upload(settings, early)
    ingest()
    published = build_features("customer_txn", 1)
    trained = retrain("customer_txn", 1, delta_version=published["delta_version"])
    bronze_v1 = store.version("bronze/transactions")

    first = score(FRAUD_MODEL.name)
    table = store.read(predictions_path(FRAUD_MODEL.name))
    early_txns = store.read("bronze/transactions", columns=["txn_id"])
    assert first["rows_scored"] == table.height == early_txns["txn_id"].n_unique() > 0
    assert table["score"].is_between(0.0, 1.0).all()
    assert set(table["model_version"]) == {str(trained["model_version"])}
    assert set(table["input_version"]) == {bronze_v1}
    assert set(table["feature_versions"]) == {f"customer_txn:v1@{published['delta_version']}"}
    assert scored_up_to(store, FRAUD_MODEL.name) == bronze_v1
    (published_event,) = wait_for_events(by_id(first["event_id"]))
    payload = events.PredictionsPublished.model_validate(published_event.payload)
    assert (payload.input_version, payload.rows_scored) == (bronze_v1, first["rows_scored"])
    assert payload.feature_versions == {"customer_txn:v1": published["delta_version"]}

    rerun = score(FRAUD_MODEL.name)  # same input: no commit
    assert rerun == {"model": FRAUD_MODEL.name, "rows_scored": 0, "delta_version": None, "event_id": None}
    assert store.version(predictions_path(FRAUD_MODEL.name)) == first["delta_version"]

    upload(settings, late)
    ingest()
    unbuilt = score(FRAUD_MODEL.name)  # the new transactions have no features yet: they wait
    assert unbuilt["rows_scored"] == 0
    build_features("customer_txn", 1)
    second = score(FRAUD_MODEL.name)
    table = store.read(predictions_path(FRAUD_MODEL.name))
    all_txns = store.read("bronze/transactions", columns=["txn_id"])
    new = table.filter(pl.col("input_version") == store.version("bronze/transactions"))
    assert second["rows_scored"] == new.height == all_txns.height - early_txns.height
    assert table["txn_id"].n_unique() == table.height == all_txns.height  # every transaction scored once
    assert second["event_id"] != first["event_id"]

    chain = prediction_lineage(settings, FRAUD_MODEL.name, first["delta_version"])
    text = chain.render_text()
    assert f"predictions/{FRAUD_MODEL.name}@{first['delta_version']}" in text
    assert f"model {FRAUD_MODEL.name} version {trained['model_version']}" in text
    assert "customer_txn:v1" in text
    assert "transactions/" in text
    later = prediction_lineage(settings, FRAUD_MODEL.name, second["delta_version"])
    assert later.scored is not None
    assert {o.key for o in later.scored.objects} == {k for k in late if k.startswith("transactions/")}

    shown = CliRunner().invoke(
        app, ["lineage", "--model", FRAUD_MODEL.name, "--batch", str(second["delta_version"]), "--json"]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["model"]["model_version"] == str(trained["model_version"])
    neither = CliRunner().invoke(app, ["lineage", "--model", FRAUD_MODEL.name])
    assert neither.exit_code != 0
    assert "exactly one of --version" in neither.output

    upload(settings, last)  # two runs racing for the same landing score it once between them
    ingest()
    build_features("customer_txn", 1)
    found = catalog.load(settings.features_module)
    features = FeatureStore(store, found.feature_sets.values())
    with ThreadPoolExecutor(2) as pool:
        racing = list(pool.map(lambda _: scoring.score(settings, store, features, FRAUD_MODEL, {}), range(2)))
    table = store.read(predictions_path(FRAUD_MODEL.name))
    all_txns = store.read("bronze/transactions", columns=["txn_id"])
    # Both may score it (each found it unscored); the batch replaces its input version's rows, so once.
    assert max(r.rows_scored for r in racing) > 0
    assert table["txn_id"].n_unique() == table.height == all_txns.height

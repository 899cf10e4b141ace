"""Right to erasure on the local stack: forget one customer everywhere, prove it, leave everyone else intact.

Real moto (S3, DynamoDB, STS), real Delta tables, MLflow on SQLite and a Prefect test server.
The demo's data holds 600 customers; one of them is erased from both sources that carry them
(transactions and fraud labels) after ingest, builds, a retrain, online materialization and
scoring. The proof scan must find them before and nowhere after.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import polars as pl
import pytest
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import catalog
from featurelake.core.erasure import Needles
from featurelake.core.naming import ERASURE_LOG_PATH, bronze_path
from featurelake.erase import run as erase_run
from featurelake.erase.proof import scan
from featurelake.erase.request import make_subject, read_keys
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.aws.s3 import aws_client
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry
from featurelake.local import synthetic
from featurelake.settings import Settings, get_settings
from features.models import FRAUD_MODEL
from flows.build_features import build_features
from flows.ingest import ingest
from flows.materialize import materialize
from flows.retrain import retrain
from flows.score import score
from tests.integration.helpers import DATA, demo_objects, upload

BREAK_GLASS = "arn:aws:iam::123456789012:role/featurelake-break-glass"


@pytest.fixture
def stack(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The demo's data ingested, built, trained on, served online and scored; break-glass configured."""
    monkeypatch.setenv("FEATURELAKE_BREAK_GLASS_ROLE_ARN", BREAK_GLASS)
    get_settings.cache_clear()
    versioned = {"Status": "Enabled"}  # as on AWS: purged files and rewritten logs stay as older versions
    aws_client(settings, "s3").put_bucket_versioning(Bucket=settings.lake_bucket, VersioningConfiguration=versioned)
    upload(settings, demo_objects())
    ingest()
    published = build_features("customer_txn", 1)
    build_features("merchant_txn", 1)
    retrain("customer_txn", 1, delta_version=published["delta_version"])
    materialize("customer_txn", 1)
    score(FRAUD_MODEL.name)
    return get_settings()


def _customer_with_history(store: DeltaStore) -> tuple[str, str]:
    """Two customers with several transactions on several days: the one to erase, and one to keep."""
    counts = (
        store.read(bronze_path("transactions"), columns=["customer_id", "event_time"])
        .group_by("customer_id")
        .agg(pl.len().alias("n"), pl.col("event_time").dt.date().n_unique().alias("days"))
        .filter((pl.col("n") >= 3) & (pl.col("days") >= 2))
        .sort("customer_id")
    )
    return counts["customer_id"][0], counts["customer_id"][1]


def _forget(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["forget", *args, "--json"])
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.output)
    return outcome  # type: ignore[no-any-return]


def _needles(settings: Settings, store: DeltaStore, source: str, column: str, value: str) -> Needles:
    found = catalog.load(settings.features_module)
    subject = make_subject(found.sources[source], column, value, read_keys(settings, store, source))
    return Needles(value=value, hashes=subject.all_hashes)


def test_a_customer_is_forgotten_everywhere_and_everyone_else_stays(stack: Settings) -> None:
    store = DeltaStore(stack)
    gone, kept = _customer_with_history(store)
    email = synthetic.customer_email(int(gone[1:]))
    before = store.read(bronze_path("transactions"))
    kept_features = store.read("features/customer_txn/v1").filter(pl.col("customer_id") == kept)
    needles = _needles(stack, store, "transactions", "customer_id", gone)
    found_before = scan(stack, needles)
    assert {h.system for h in found_before.hits} >= {"lake", "raw", "online"}  # the scan is not vacuous
    assert scan(stack, _needles(stack, store, "transactions", "customer_email", email)).hits  # hashed e-mail too

    version = store.version(bronze_path("transactions"))
    planned = _forget("--source", "transactions", "--subject", f"customer_id={gone}", "--dry-run")
    assert planned["dry_run"]
    assert planned["rows_removed"]["bronze/transactions"] == (before.filter(pl.col("customer_id") == gone).height)
    assert planned["raw_objects"]
    assert planned["models_affected"]
    assert store.version(bronze_path("transactions")) == version  # a dry run changes nothing

    erased = _forget("--source", "transactions", "--subject", f"customer_id={gone}", "--rewrite-raw")
    labels = _forget("--source", "fraud_labels", "--subject", f"customer_id={gone}", "--rewrite-raw")
    assert erased["rows_removed"]["bronze/transactions"] == planned["rows_removed"]["bronze/transactions"]
    assert all(r["new_etag"] for r in erased["raw_objects"])  # type: ignore[union-attr]
    assert labels["request_id"] != erased["request_id"]

    after = store.read(bronze_path("transactions"))
    assert gone not in set(after["customer_id"])
    assert after.height == before.height - planned["rows_removed"]["bronze/transactions"]  # type: ignore[operator]
    assert gone not in set(store.read("features/customer_txn/v1")["customer_id"])
    still = store.read("features/customer_txn/v1").filter(pl.col("customer_id") == kept)
    assert still.sort("event_time").equals(kept_features.sort("event_time"))  # another customer's features unchanged
    online = OnlineStore(stack)
    table = online.table_name(catalog.load(stack.features_module).get("customer_txn", 1))
    assert f'["{gone}"]' not in online.entities(table)
    assert f'["{kept}"]' in online.entities(table)
    model_version = registry.champion_version(stack, FRAUD_MODEL.name)
    assert model_version is not None
    tags = registry.model_version_tags(stack, FRAUD_MODEL.name, model_version)
    assert tags["featurelake.erasure.affected"] == "true"
    assert erased["request_id"] in tags["featurelake.erasure.requests"]
    log = store.read(ERASURE_LOG_PATH)
    assert set(log["request_id"]) == {erased["request_id"], labels["request_id"]}
    assert gone not in log.write_csv()
    assert email not in log.write_csv()

    after_scan = scan(stack, needles)
    assert after_scan.clean, after_scan.markdown()
    assert all(after_scan.scanned[system] > 0 for system in ("lake", "raw", "online", "mlflow", "prefect"))
    assert gone not in after_scan.markdown()
    assert scan(stack, _needles(stack, store, "transactions", "customer_email", email)).clean
    verified = CliRunner().invoke(
        app,
        [
            "forget",
            "--source",
            "transactions",
            "--subject",
            f"customer_id={gone}",
            "--verify",
            str(erased["request_id"]),
        ],
    )
    assert verified.exit_code == 0, verified.output

    again = _forget("--source", "transactions", "--subject", f"customer_id={gone}")
    assert "already erased" in " ".join(again["notes"])  # type: ignore[arg-type]

    replayed = {
        f"transactions/replay/{key.split('/')[1]}-{key.rsplit('/', 1)[-1]}": data
        for key, data in demo_objects().items()
        if key.startswith("transactions/")
    }
    upload(stack, replayed)
    ingest()  # the same rows again: the suppression list keeps the erased customer out
    assert gone not in set(store.read(bronze_path("transactions"))["customer_id"])


def test_nothing_to_erase_is_a_clear_no_op(settings: Settings) -> None:
    upload(settings, {k: v for k, v in demo_objects().items() if k.startswith("transactions/")})
    ingest()
    store = DeltaStore(settings)
    version = store.version(bronze_path("transactions"))
    outcome = _forget("--source", "transactions", "--subject", "customer_id=nobody-at-all")
    assert "nothing to erase" in " ".join(outcome["notes"])  # type: ignore[arg-type]
    assert store.version(bronze_path("transactions")) == version
    assert store.version(ERASURE_LOG_PATH) is None
    masked = CliRunner().invoke(app, ["forget", "--source", "transactions", "--subject", "card_number=4111"])
    assert masked.exit_code == 1
    assert "masked" in masked.output


def test_a_crash_mid_erasure_is_completed_by_a_rerun(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DeltaStore(stack)
    gone, kept = _customer_with_history(store)

    def crash(*_: object, **__: object) -> None:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(erase_run.models, "tag_affected", crash)  # after the DELETEs and rebuilds, before the purge
    failed = CliRunner().invoke(app, ["forget", "--source", "transactions", "--subject", f"customer_id={gone}"])
    assert failed.exit_code != 0
    assert gone not in set(store.read(bronze_path("transactions"))["customer_id"])  # logically gone...
    needles = _needles(stack, store, "transactions", "customer_id", gone)
    assert any(h.system == "lake" for h in scan(stack, needles, include_raw=False).hits)  # ...but still on storage
    monkeypatch.undo()
    monkeypatch.setenv("FEATURELAKE_BREAK_GLASS_ROLE_ARN", BREAK_GLASS)
    done = _forget("--source", "transactions", "--subject", f"customer_id={gone}", "--rewrite-raw")
    assert done["files_vacuumed"]
    assert done["raw_objects"]
    _forget("--source", "fraud_labels", "--subject", f"customer_id={gone}", "--rewrite-raw")
    assert scan(stack, needles).clean
    assert kept in set(store.read(bronze_path("transactions"))["customer_id"])


def test_an_erasure_racing_an_ingest_and_a_build_loses_nothing_else(settings: Settings) -> None:
    objects = {k: v for k, v in demo_objects().items() if k.startswith("transactions/")}
    first = sorted(objects)[:3]
    upload(settings, {k: objects[k] for k in first})
    ingest()
    build_features("customer_txn", 1)
    store = DeltaStore(settings)
    gone, _ = _customer_with_history(store)
    upload(settings, {k: v for k, v in objects.items() if k not in first})
    outcomes: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def erase() -> None:
        outcomes.append(_forget("--source", "transactions", "--subject", f"customer_id={gone}"))

    def guarded(work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    def build() -> None:  # a build racing the erasure may stop (it read bronze the erasure changed), never lose data
        try:
            build_features("customer_txn", 1)
        except Exception as error:
            if type(error).__name__ not in {"ErasedSinceReadError", "CommitFailedError"}:
                raise

    workers = [threading.Thread(target=guarded, args=(work,)) for work in (erase, ingest, build)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    build_features("customer_txn", 1)
    outcomes.append(_forget("--source", "transactions", "--subject", f"customer_id={gone}"))  # whatever the race left
    bronze = store.read(bronze_path("transactions"))
    accepted = store.read("_ingest_log/transactions")["rows_accepted"].sum()
    removed = sum(int(o["rows_removed"].get("bronze/transactions", 0)) for o in outcomes)  # type: ignore[union-attr]
    assert removed > 0
    assert bronze.height == accepted  # the ingest log was recounted: every row it says was accepted is there
    others = DATA.transactions.filter(pl.col("customer_id") != gone)["customer_id"].n_unique()
    assert bronze["customer_id"].n_unique() == others  # every other customer is still there
    assert gone not in set(bronze["customer_id"])
    assert gone not in set(store.read("features/customer_txn/v1")["customer_id"])
    lake = scan(settings, _needles(settings, store, "transactions", "customer_id", gone), include_raw=False)
    assert lake.clean, lake.markdown()  # the raw objects were not rewritten (no break-glass run): not scanned

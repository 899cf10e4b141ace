"""``featurelake demo``: the whole chain on the embedded stack, from raw objects to a model.

The deployments are registered with ``prefect deploy --all`` and run by a process worker, as
on a team's server. Nothing is started by hand: the scheduled watcher announces the uploaded
objects, and automations start ingest, the builds and the (debounced, champion-gated) retrain.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from featurelake.local import synthetic
from featurelake.local.chain import StageError, wait_for_deployments, wait_for_triggered_run
from featurelake.local.processes import StackError
from featurelake.local.stack import LocalStack

INGEST, BUILD, RETRAIN = "ingest/ingest", "build-features/customer-txn-v1", "retrain/fraud-model"
MERCHANT_BUILD = "build-features/merchant-txn-v1"
WATCH = "watch-raw/every-15s"


def run_demo(state_dir: Path, keep_running: bool, stage_timeout: float, say: Callable[[str], None]) -> int:
    """Start the stack, run the chain, print a summary; stop everything on the way out."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if a parent shell ignored SIGINT
    stack, completed = LocalStack(state_dir), False
    try:
        os.environ.update(stack.start(say))
        stack.deploy_and_start_worker(say)
        summary = run_chain(stack, stage_timeout, say)
        print_summary(summary, stack, say)
        completed = True
        if keep_running:
            say(f"stack is up; in another shell, `source {stack.env_file}` to use the featurelake and prefect CLIs")
            say("press Ctrl-C to stop every process")
            while True:
                time.sleep(3600)
        return 0
    except (StageError, StackError) as error:
        say(f"FAILED: {error}")
        say(f"logs: {stack.state_dir / 'logs'}")
        return 1
    except KeyboardInterrupt:
        say("interrupted" if not completed else "stopping on request")
        return 0 if completed else 130
    finally:
        say("stopping the local stack")
        stack.stop()


def run_chain(stack: LocalStack, stage_timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
    """Upload the synthetic dataset, start ingest and follow the automations to a model."""
    from featurelake.io.aws.s3 import ensure_buckets
    from featurelake.io.prefect.secrets import create_pii_key_block
    from featurelake.settings import Settings

    settings = Settings()
    wait_for_deployments([WATCH, INGEST, BUILD, MERCHANT_BUILD, RETRAIN], stage_timeout, say)
    ensure_buckets(settings)
    if create_pii_key_block(settings.pii_key_name):
        say(f"created a random PII hashing key in the Prefect Secret block {settings.pii_key_name!r}")
    data = synthetic.generate()
    since = dt.datetime.now(dt.UTC)
    good, problems = synthetic.raw_objects(data), synthetic.problem_objects(data)
    synthetic.upload(settings, good)
    synthetic.upload(settings, {**good, **problems})  # the good ones twice: a producer retrying its uploads
    say(f"uploaded {len(good)} raw objects ({data.transactions.height} transactions, {data.labels.height} labels)")
    say(f"uploaded {len(problems)} problem objects: {', '.join(sorted(problems))}")
    say("nothing else is started by hand: the watcher announces the objects and an automation starts ingest")
    ingest = wait_for_triggered_run(INGEST, since, "ingest", stage_timeout, say)
    build = wait_for_triggered_run(BUILD, since, "build customer_txn", stage_timeout, say)
    wait_for_triggered_run(MERCHANT_BUILD, since, "build merchant_txn", stage_timeout, say)
    retrain = wait_for_triggered_run(RETRAIN, since, "retrain", stage_timeout, say)
    return collect_summary(settings, ingest, build, retrain)


def collect_summary(settings: Any, ingest: Any, build: Any, retrain: Any) -> dict[str, Any]:
    """What the chain produced, read back from Delta, MLflow and Prefect."""
    from featurelake.core.contracts import REASON_COLUMN
    from featurelake.core.naming import bronze_path, feature_table_path, quarantine_path
    from featurelake.ingest.bronze import ingest_log_path
    from featurelake.io.delta.store import DeltaStore
    from featurelake.io.mlflow import registry, runs

    store = DeltaStore(settings)
    params = retrain.parameters
    features_path = feature_table_path(params["feature_set"], params["feature_set_version"])
    merchant_path = feature_table_path("merchant_txn", 1)
    tables = {}
    sources = (bronze_path(s) for s in synthetic.SOURCES)
    for path in (*sources, quarantine_path("transactions"), features_path, merchant_path):
        table = store.table(path)
        tables[store.uri(path)] = (table.version(), table.count()) if table else (None, 0)
    log = store.read(ingest_log_path("transactions"))
    reasons = store.read(quarantine_path("transactions"))[REASON_COLUMN]
    build_runs = runs.runs_of_flow_run(settings, str(build.id))
    retrain_runs = runs.runs_of_flow_run(settings, str(retrain.id))
    versions = [v for r in retrain_runs for v in registry.model_versions_of_run(settings, r["run_id"])]
    return {
        "tables": tables,
        "ingest_run": ingest.name,
        "ingest_run_id": str(ingest.id),
        "ingested": {
            "objects": log.height,
            "rows_accepted": int(log["rows_accepted"].sum()),
            "rows_quarantined": int(log["rows_quarantined"].sum()),
        },
        "quarantine_reasons": reasons.str.replace(r"^(transactions/\S+: )?(.{0,100}).*$", "${2}")
        .value_counts(sort=True)
        .rows(),
        "build_run": build.name,
        "retrain_run": retrain.name,
        "retrain_run_id": str(retrain.id),
        "retrain_parameters": retrain.parameters,
        "validation": _validation_outcome(build_runs),
        "build_mlflow_runs": [r["run_id"] for r in build_runs],
        "retrain_mlflow_runs": [r["run_id"] for r in retrain_runs],
        "metrics": retrain_runs[0]["metrics"] if retrain_runs else {},
        "model": f"{params['model']} version {', '.join(versions) or '?'}",
        "champion": _champion_line(settings, params["model"], versions),
    }


def _champion_line(settings: Any, name: str, versions: list[str]) -> str:
    """Which version holds the ``champion`` alias, and the gate's reason for the retrain's version."""
    from featurelake.io.mlflow import registry

    champion = registry.champion_version(settings, name)
    tags = [registry.model_version_tags(settings, name, v) for v in versions]
    reasons = [t.get("featurelake.promotion_reason", "?") for t in tags]
    return f"version {champion or 'none'} ({'; '.join(reasons) or 'no retrain'})"


def print_summary(summary: dict[str, Any], stack: LocalStack, say: Callable[[str], None]) -> None:
    """A readable summary of the chain's outputs and where to look at them."""
    say("")
    say("=== featurelake demo: summary ===")
    for uri, (version, rows) in summary["tables"].items():
        say(f"  {uri:<55} delta version {version}  rows {rows}")
    ingested = summary["ingested"]
    say(
        f"  transactions ingest log: {ingested['objects']} objects, rows read = {ingested['rows_accepted']} accepted"
        f" + {ingested['rows_quarantined']} quarantined"
    )
    for reason, count in summary["quarantine_reasons"]:
        say(f"    quarantined {count:>4} x {reason}")
    say(f"  validation: {summary['validation']}")
    say(f"  ingest run: {summary['ingest_run']}   build run: {summary['build_run']}")
    say(f"  retrain run (started by automation): {summary['retrain_run']} with {summary['retrain_parameters']}")
    say(f"  MLflow build run(s): {summary['build_mlflow_runs']}   retrain run(s): {summary['retrain_mlflow_runs']}")
    say("  holdout metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(summary["metrics"].items())))
    say(f"  registered model: {summary['model']}   champion: {summary['champion']}")
    say(f"  Prefect UI: {stack.prefect_ui_url}    MLflow UI: {stack.mlflow_url}")


def _validation_outcome(build_runs: list[dict[str, Any]]) -> str:
    """What the build's MLflow run recorded about its Great Expectations gate."""
    if not build_runs:
        return "no build run recorded in MLflow"
    metrics = build_runs[0]["metrics"]
    verdict = "passed" if metrics.get("validation_success") == 1.0 else "FAILED"
    evaluated, failed = int(metrics.get("expectations_evaluated", 0)), int(metrics.get("expectations_failed", 0))
    return f"{verdict} ({evaluated} expectations, {failed} failed)"


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

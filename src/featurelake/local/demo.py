"""``featurelake demo``: the whole chain on the embedded local stack, from raw objects to a model.

The deployments are registered with ``prefect deploy --all`` and run by a process worker, as
on a team's server. Nothing is started by hand: the raw bucket's event source announces the
uploaded objects (the scheduled watcher is the safety net), and automations start ingest, the
builds and the (debounced, champion-gated) retrain. ``--stack-only`` brings the same stack up
without the demo's data, for one's own sources and feature sets.
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
from featurelake.local.forget import forget_a_customer
from featurelake.local.processes import StackError
from featurelake.local.production import serve_and_score
from featurelake.local.stack import LocalStack
from featurelake.local.summary import collect_summary, print_summary
from featurelake.settings import Settings

INGEST, BUILD, RETRAIN = "ingest/ingest", "build-features/customer-txn-v1", "retrain/fraud-model"
MERCHANT_BUILD = "build-features/merchant-txn-v1"
FEATURE_TABLES = ("customer_txn", 1), ("merchant_txn", 1)


def run_demo(
    state_dir: Path, keep_running: bool, stage_timeout: float, say: Callable[[str], None], stack_only: bool = False
) -> int:
    """Start the stack, run the chain (unless ``stack_only``), print a summary; stop everything on the way out."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if a parent shell ignored SIGINT
    stack, completed, started = LocalStack(state_dir), False, time.monotonic()
    try:
        os.environ.update(stack.start(say))
        stack.deploy_and_start_worker(say)
        if stack_only:
            prepare_lake(Settings(), say)
        else:
            summary = run_chain(stack, stage_timeout, say)
            print_summary(summary, (stack.prefect_ui_url, stack.mlflow_url), say)
        completed = True
        if keep_running or stack_only:
            _wait_until_interrupted(stack, time.monotonic() - started, say)
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


def prepare_lake(settings: Settings, say: Callable[[str], None]) -> None:
    """The buckets (the lake's only when it is on S3) and the PII hashing key ingest needs."""
    from featurelake.io.aws.s3 import ensure_buckets
    from featurelake.io.prefect.secrets import create_pii_key_block

    ensure_buckets(settings)
    if create_pii_key_block(settings.pii_key_name):
        say(f"created a random PII hashing key in the Prefect Secret block {settings.pii_key_name!r}")


def _wait_until_interrupted(stack: LocalStack, elapsed: float, say: Callable[[str], None]) -> None:
    """Keep the stack up for a person (Ctrl-C or SIGTERM ends it); say how to use it."""
    say(f"stack is up after {elapsed:.0f} s; lake: {Settings().lake_uri}")
    say(f"in another shell, `source {stack.env_file}` to point the featurelake, prefect, mlflow and aws CLIs at it")
    say(f"Prefect UI: {stack.prefect_ui_url}    MLflow UI: {stack.mlflow_url}")
    say("press Ctrl-C to stop every process")
    while True:
        time.sleep(3600)


def run_chain(stack: LocalStack, stage_timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
    """Upload the synthetic dataset, follow the automations from ingest to a model; serve, score; forget a customer."""
    from featurelake.core.naming import feature_table_path

    settings = Settings()
    wait_for_deployments([INGEST, BUILD, MERCHANT_BUILD, RETRAIN], stage_timeout, say)
    prepare_lake(settings, say)
    data = synthetic.generate()
    since = dt.datetime.now(dt.UTC)
    good, problems = synthetic.raw_objects(data), synthetic.problem_objects(data)
    synthetic.upload(settings, good)
    synthetic.upload(settings, {**good, **problems})  # the good ones twice: a producer retrying its uploads
    say(f"uploaded {len(good)} raw objects ({data.transactions.height} transactions, {data.labels.height} labels)")
    say(f"uploaded {len(problems)} problem objects: {', '.join(sorted(problems))}")
    say("nothing else is started by hand: the event source announces the objects and an automation starts ingest")
    ingest = wait_for_triggered_run(INGEST, since, "ingest", stage_timeout, say)
    build = wait_for_triggered_run(BUILD, since, "build customer_txn", stage_timeout, say)
    wait_for_triggered_run(MERCHANT_BUILD, since, "build merchant_txn", stage_timeout, say)
    retrain = wait_for_triggered_run(RETRAIN, since, "retrain", stage_timeout, say)
    tables = [feature_table_path(name, version) for name, version in FEATURE_TABLES]
    summary = collect_summary(settings, synthetic.SOURCES, tables, ingest, build, retrain)
    production = serve_and_score(stack, data, stage_timeout, say)
    return summary | {"production": production, "erasure": forget_a_customer(data, stage_timeout, say)}


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

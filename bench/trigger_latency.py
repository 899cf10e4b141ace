"""Benchmark: from an event's arrival at the Prefect server to the flow run it triggers being Running.

    make bench-latency
    .venv/bin/python bench/trigger_latency.py --samples 5

The local stack as ``featurelake demo`` runs it (``LocalStack.start``, then
``deploy_and_start_worker``: ``prefect deploy --all`` with dev's values and a process worker).
For each trigger the script emits the event itself, as the S3 notifications, ingest and the
build would: a raw object landed (ingest), bronze transactions appended (both builds),
customer_txn:v1 published (the debounced retrain). It then reads back from the server when the
event was received, when the automation created the run, when the run was due (its scheduled
time), when the worker took it (Pending) and when it ran (Running). The lake is empty, so ingest
finds nothing to do and the builds and the retrain fail at their first read: what is measured is
the way to the flow, which ends at Running. Samples run one after the other, each once the
previous runs ended, so that none waits for another's CPU.

Reported apart, as the issue asks: the deliberate windows (ingest's batching window, the
retrain's debounce), the automation's own delay (for the proactive retrain, past the window's
end: Prefect evaluates proactive triggers every ``PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY``),
the worker's pick-up (polling every ``PREFECT_WORKER_QUERY_SECONDS``; a run due within
``PREFECT_WORKER_PREFETCH_SECONDS`` is taken early) and the process start-up (Pending → Running:
interpreter, Prefect, the flow module's imports). The flow modules' import cost is measured on
its own in fresh interpreters. ``--env NAME=VALUE`` gives every stack process a setting the stack
does not set itself (e.g. ``PREFECT_WORKER_PREFETCH_SECONDS=20``), to measure a tuning; the report
names it. Results: ``bench/results/trigger-latency-<UTC>.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a directory of scripts, not a package
from harness import ROOT, code_revision, machine, machine_line, markdown_table, utc_now, write_results

FLOW_MODULES = ("flows.watch", "flows.ingest", "flows.build_features", "flows.retrain")
RUN_TIMEOUT = 240.0
LEGEND = (
    "Medians. *automation*: event received → run created (the retrain: the debounce window's end → "
    "created). *due*: when the run may start (created, or its scheduled time after `schedule_after`). "
    "*due → Pending*: the worker's pick-up (negative: prefetched). *Pending → Running*: process "
    "start-up, Prefect and the flow module's imports (a prefetched run waits here for its scheduled "
    "time). *beyond the window*: received → Running minus the deliberate window."
)


@dataclass
class Sample:
    """One triggered run's timeline, in seconds from the event's arrival at the server."""

    trigger: str
    window: float  # the deliberate wait the trigger adds (schedule_after, or the debounce)
    automation: float  # received → created (reactive); the window's end → created (proactive)
    pickup: float  # due → Pending (negative: prefetched before it was due)
    startup: float  # Pending → Running: the process, Prefect, the flow module
    due_to_running: float  # due → Running: what the run waited once it was allowed to start
    total: float  # received → Running


def main() -> None:
    """Start the stack, measure every trigger, print the table and save the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=5, help="runs measured per trigger (median reported)")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".featurelake" / "bench" / "latency")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every stack process (server, worker, flow runs) the stack does not set itself, "
        "e.g. PREFECT_WORKER_PREFETCH_SECONDS=20; repeatable",
    )
    args = parser.parse_args()
    os.environ.update(dict(pair.split("=", 1) for pair in args.env))  # LocalStack passes os.environ on
    started_at, load_before = utc_now(), os.getloadavg()
    imports = import_costs()
    shutil.rmtree(args.state_dir, ignore_errors=True)
    from featurelake.local.stack import LocalStack

    stack = LocalStack(args.state_dir, project_dir=ROOT, prefect_port=None, mlflow_port=None)
    try:
        os.environ.update(stack.start(print))
        stack.deploy_and_start_worker(print)
        settings_used, samples = measure_all(args.samples)
    finally:
        stack.stop()
    report = {"started_at": started_at, "machine": machine(("prefect", "featurelake")), "revision": code_revision()}
    report["load_average"] = {"start": load_before, "end": os.getloadavg()}
    report["overrides"] = args.env
    report |= {"settings": settings_used, "imports": imports, "samples": [asdict(s) for s in samples]}
    markdown = render(report, samples)
    print(markdown)
    paths = write_results("trigger-latency", started_at, report, markdown)
    print(f"wrote {paths[0]} and {paths[1]}")


def measure_all(samples: int) -> tuple[dict[str, str], list[Sample]]:
    """The settings in force, then ``samples`` runs of each trigger."""
    from featurelake.deploy.prefect_file import environment_values, parse_duration
    from featurelake.io.aws.s3 import ensure_buckets
    from featurelake.settings import Settings

    settings = Settings()
    ensure_buckets(settings)  # ingest lists the (empty) raw bucket
    values = environment_values("dev")
    batch, debounce = (
        parse_duration(values[n]).total_seconds()
        for n in ("FEATURELAKE_INGEST_BATCH_WINDOW", "FEATURELAKE_RETRAIN_DEBOUNCE")
    )
    wait_for_deployments(["ingest/ingest", "build-features/customer-txn-v1", "retrain/fraud-model"])
    measured: list[Sample] = []
    for n in range(samples):
        print(f"sample {n + 1}/{samples}")
        measured += measure("ingest", land_object(settings), ["ingest/ingest"], batch, proactive=False)
        builds = ["build-features/customer-txn-v1", "build-features/merchant-txn-v1"]
        measured += measure("build", append_bronze(settings), builds, 0.0, proactive=False)
        measured += measure("retrain", publish(settings), ["retrain/fraud-model"], debounce, proactive=True)
    return prefect_settings(values), measured


def prefect_settings(values: dict[str, str]) -> dict[str, str]:
    """The knobs between an event and a Running flow, as this stack has them."""
    from prefect.settings import get_current_settings

    current = get_current_settings()
    return {
        "FEATURELAKE_INGEST_BATCH_WINDOW": values["FEATURELAKE_INGEST_BATCH_WINDOW"],
        "FEATURELAKE_RETRAIN_DEBOUNCE": values["FEATURELAKE_RETRAIN_DEBOUNCE"],
        "PREFECT_WORKER_QUERY_SECONDS": str(current.worker.query_seconds),
        "PREFECT_WORKER_PREFETCH_SECONDS": str(current.worker.prefetch_seconds),
        "PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY": str(current.server.events.proactive_granularity),
    }


def land_object(settings: Any) -> Callable[[], uuid.UUID]:
    """Announce a raw object as the S3 notifications would (the watcher's own event); nothing is uploaded."""
    from featurelake.ingest.watcher import PendingObject, announce_landed
    from featurelake.io.aws.raw import RawObject

    def emit() -> uuid.UUID:
        tag = uuid.uuid4().hex
        item = PendingObject("transactions", RawObject(f"transactions/bench-latency/{tag}.csv", tag, 1))
        (event_id,) = announce_landed(settings, [item])
        return uuid.UUID(event_id)

    return emit


def append_bronze(settings: Any) -> Callable[[], uuid.UUID]:
    """``featurelake.bronze-table.appended`` for bronze transactions, as ingest announces it."""
    from featurelake.core import events
    from featurelake.core.naming import bronze_path, bronze_resource_id
    from featurelake.io.prefect.events import emit

    def send() -> uuid.UUID:
        payload = events.BronzeAppended(
            source="transactions",
            table_uri=settings.table_uri(bronze_path("transactions")),
            delta_version=1,
            rows_accepted=1,
            rows_quarantined=0,
            source_keys=["transactions/bench-latency.csv"],
        )
        return emit(events.BRONZE_APPENDED, bronze_resource_id("transactions"), payload, uuid.uuid4().hex)

    return send


def publish(settings: Any) -> Callable[[], uuid.UUID]:
    """``featurelake.feature-set.published`` for customer_txn:v1, labelled as the build labels it."""
    from featurelake.core import events
    from featurelake.io.prefect.events import emit

    def send() -> uuid.UUID:
        uri = settings.table_uri("features/customer_txn/v1")
        payload = events.FeatureSetPublished(
            feature_set="customer_txn",
            feature_set_version=1,
            table_uri=uri,
            delta_version=1,
            bronze_version=1,
            row_count=1,
            suite_hash="bench",
        )
        labels = {events.TABLE_URI_LABEL: uri, events.DELTA_VERSION_LABEL: "1"}
        return emit(
            events.FEATURE_SET_PUBLISHED, "featurelake.feature-set.customer_txn.v1", payload, uuid.uuid4().hex, labels
        )

    return send


def measure(
    trigger: str, send: Callable[[], uuid.UUID], deployments: list[str], window: float, proactive: bool
) -> list[Sample]:
    """Emit one event, follow the run it starts on each deployment to Running, then wait for every run to end."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ids = {name: client.read_deployment_by_name(name).id for name in deployments}
        before = {name: {r.id for r in runs_of(client, i)} for name, i in ids.items()}
        event = stored_event(client, send())
        runs = {name: wait_for(_new_run(client, i, before[name])) for name, i in ids.items()}
        samples = [
            timeline(f"{trigger} ({name})", event, run, running_states(client, run.id), window, proactive)
            for name, run in runs.items()
        ]
        for run in runs.values():  # the next sample starts on an idle worker
            wait_for(_ended(client, run.id))
    return samples


def _ended(client: Any, run_id: uuid.UUID) -> Callable[[], bool | None]:
    """A probe that is True once the run is in a final state."""

    def probe() -> bool | None:
        state = client.read_flow_run(run_id).state
        return True if state is not None and state.is_final() else None

    return probe


def _new_run(client: Any, deployment_id: uuid.UUID, known: set[uuid.UUID]) -> Callable[[], Any]:
    """A probe for the first run of the deployment that is not in ``known``."""
    return lambda: next((r for r in runs_of(client, deployment_id) if r.id not in known), None)


def runs_of(client: Any, deployment_id: uuid.UUID) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return list(client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))))


def stored_event(client: Any, event_id: uuid.UUID) -> Any:
    """The event as the server stored it (``received`` is its arrival)."""
    from prefect.events.filters import EventFilter, EventIDFilter, EventOccurredFilter
    from prefect.types._datetime import now

    since = now("UTC") - timedelta(minutes=5)
    query = EventFilter(
        id=EventIDFilter(id=[event_id]), occurred=EventOccurredFilter(since=since, until=since + timedelta(hours=1))
    )
    return wait_for(lambda: next(iter(client.read_events(filter=query, limit=1).events), None))


def running_states(client: Any, run_id: uuid.UUID) -> dict[str, datetime]:
    """The first timestamp of each state the run went through, once it reached Running."""

    def read() -> dict[str, datetime] | None:
        states: dict[str, datetime] = {}
        for state in sorted(client.read_flow_run_states(run_id), key=lambda s: s.timestamp):
            states.setdefault(state.type.value, state.timestamp)
        return states if {"RUNNING", "CANCELLED", "CRASHED", "FAILED"} & set(states) else None

    states = wait_for(read)
    if "RUNNING" not in states:
        raise SystemExit(f"run {run_id} ended without running: {sorted(states)}; see the worker log")
    return states


def timeline(trigger: str, event: Any, run: Any, states: dict[str, datetime], window: float, proactive: bool) -> Sample:
    received, created = event.received, run.created
    due = max(created, run.expected_start_time or created)
    fired_after = event.occurred.timestamp() + window if proactive else received.timestamp()

    def since(start: float, end: datetime) -> float:
        return round(end.timestamp() - start, 3)

    return Sample(
        trigger=trigger,
        window=window,
        automation=since(fired_after, created),
        pickup=since(due.timestamp(), states["PENDING"]),
        startup=since(states["PENDING"].timestamp(), states["RUNNING"]),
        due_to_running=since(due.timestamp(), states["RUNNING"]),
        total=since(received.timestamp(), states["RUNNING"]),
    )


def wait_for_deployments(names: list[str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    def all_there() -> bool | None:
        with get_client(sync_client=True) as client:
            try:
                return all(client.read_deployment_by_name(n) for n in names)
            except ObjectNotFound:
                return None

    wait_for(all_there)


def wait_for(probe: Callable[[], Any], timeout: float = RUN_TIMEOUT) -> Any:
    """Poll ``probe`` every 0.2 s until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)
    raise SystemExit(f"nothing after {timeout:.0f} s: {probe}")


def import_costs(repeats: int = 3) -> dict[str, float]:
    """Median seconds, each in a fresh interpreter: Python, Prefect's engine, each flow module after the engine."""
    engine = "import prefect.flow_engine"
    code = {"python (no imports)": "pass", "prefect.flow_engine": engine}
    for module in FLOW_MODULES:
        code[f"{module} (after prefect.flow_engine)"] = (
            f"{engine}; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        )
    costs = {}
    for label, snippet in code.items():
        seconds = [_timed(snippet, marginal="after" in label) for _ in range(repeats)]
        costs[label] = round(statistics.median(seconds), 3)
    return costs


def _timed(snippet: str, marginal: bool) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", f"import time; {snippet}"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"python -c {snippet!r} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1]) if marginal else time.perf_counter() - started


def render(report: dict[str, Any], samples: list[Sample]) -> str:
    """The report: settings, the medians per trigger, every sample, the import costs."""
    by_trigger: dict[str, list[Sample]] = {}
    for sample in samples:
        by_trigger.setdefault(sample.trigger, []).append(sample)
    fields = ("window", "automation", "pickup", "startup", "due_to_running", "total")
    rows = []
    for trigger, group in by_trigger.items():
        medians = {f: statistics.median(getattr(s, f) for s in group) for f in fields}
        beyond = statistics.median(s.total - s.window for s in group)
        rows.append(
            [
                trigger,
                str(len(group)),
                *(f"{medians[f]:.2f}" for f in fields),
                f"**{beyond:.2f}**",
                "yes" if beyond <= 5 else "**no**",
            ]
        )
    headers = [
        "trigger (deployment)",
        "n",
        "deliberate window s",
        "automation s",
        "due → Pending s",
        "Pending → Running s",
        "due → Running s",
        "received → Running s",
        "beyond the window s",
        "≤ 5 s?",
    ]
    table = markdown_table(headers, rows, [False, *([True] * 8), False])
    settings = markdown_table(
        ["setting", "value"], [[k, f"`{v}`"] for k, v in report["settings"].items()], [False, False]
    )
    imports = markdown_table(
        ["import, fresh interpreter", "median s"],
        [[k, f"{v:.2f}"] for k, v in report["imports"].items()],
        [False, True],
    )
    every = markdown_table(
        ["trigger", *fields],
        [[s.trigger, *(f"{getattr(s, f):.2f}" for f in fields)] for s in samples],
        [False, *([True] * len(fields))],
    )
    return (
        "\n\n".join(
            [
                f"# Trigger latency, {report['started_at']}",
                f"`python bench/trigger_latency.py` on featurelake {report['revision']}; "
                + machine_line(report["machine"])
                + "; load average (1, 5, 15 min) {start} at the start, {end} at the end".format(
                    **{k: "/".join(f"{x:.1f}" for x in v) for k, v in report["load_average"].items()}
                ),
                table,
                LEGEND,
                "## Settings in force\n\n"
                + settings
                + (
                    f"\n\nSet for this run with `--env`: {', '.join(report['overrides'])}."
                    if report["overrides"]
                    else ""
                ),
                "## Import cost\n\n" + imports,
                "## Every sample\n\n" + every,
            ]
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

"""What the orchestration costs: the real ``build-features`` flow vs the computation and write inside it.

Issue 7's targets: "everything around the computation (orchestration, validation, lineage,
publish) ≤ 30 % of compute + write time; validation ≤ 15 % of build time". This script runs the
real flow (Prefect API on a local test server, MLflow on SQLite, the lake on local disk) over
``--rows`` synthetic transactions and splits its wall time with the timings each chunk reports:

* work: reading the chunk's bronze window, computing the features, writing the Delta commit;
* validation: the Great Expectations gate (the polars engine by default);
* around: everything else, measured as the flow's wall time minus the chunks' work and
  validation: Prefect task and flow runs, the plan, drift, MLflow lineage, OpenLineage, the
  publish marker, artifacts and the event.

One untimed run first (imports, the MLflow database, the registry entry); then ``--runs`` full
builds, each after deleting the feature table so that every run computes everything. Also
runs one incremental build of a new day for comparison. Results go to
``bench/results/pipeline-<UTC>.{json,md}``.

    .venv/bin/python bench/pipeline.py                            # 10M rows over 90 days
    .venv/bin/python bench/pipeline.py --rows 1000000 --runs 2     # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.incremental import _append_day, _store

WORK = ("read", "compute", "write")


def child(args: argparse.Namespace) -> None:
    """Inside a fresh process whose environment points featurelake and Prefect at the workdir."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        from flows.build_features import build_features

        lake = Path(args.workdir) / "lake"
        first_started = time.perf_counter()
        build_features("customer_txn", 1)
        warm_up = time.perf_counter() - first_started
        runs = []
        for run in range(args.runs):
            shutil.rmtree(lake / "features", ignore_errors=True)
            started = time.perf_counter()
            summary = build_features("customer_txn", 1)
            runs.append(_split(time.perf_counter() - started, summary))
            print(f"run {run + 1}/{args.runs}: {runs[-1]['wall']:.1f} s", file=sys.stderr, flush=True)
        store = _store(lake)
        days = args.days
        _append_day(store, days, argparse.Namespace(rows_per_day=args.rows // days, customers=args.customers, seed=7))
        started = time.perf_counter()
        summary = build_features("customer_txn", 1)
        incremental = _split(time.perf_counter() - started, summary)
    print(json.dumps({"warm_up_s": warm_up, "runs": runs, "incremental": incremental}))


def _split(wall: float, summary: dict[str, Any]) -> dict[str, Any]:
    seconds = {k.removeprefix("seconds_"): float(v) for k, v in summary.items() if k.startswith("seconds_")}
    work = sum(seconds.get(k, 0.0) for k in WORK)
    validate = seconds.get("validate", 0.0)
    return {"wall": wall, "work": work, "validate": validate, "around": wall - work - validate, "steps": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    started_at = harness.utc_now()
    with tempfile.TemporaryDirectory(prefix="featurelake-pipeline-") as tmp:
        workdir = Path(args.workdir or tmp)
        generate(args, workdir)
        result = run_child(args, workdir)
    report(args, result, started_at)


def generate(args: argparse.Namespace, workdir: Path) -> None:
    """Bronze: ``--rows`` rows over ``--days`` days, one append per day (kept when already there)."""
    store = _store(workdir / "lake")
    if store.version("bronze/transactions") is not None:
        shutil.rmtree(workdir / "lake" / "features", ignore_errors=True)
        return
    per_day = argparse.Namespace(rows_per_day=args.rows // args.days, customers=args.customers, seed=7)
    for day in range(args.days):
        _append_day(store, day, per_day)
        print(f"\rgenerated day {day + 1}/{args.days}", end="", flush=True)
    print()


def run_child(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    environment = os.environ | {
        "FEATURELAKE_LAKE_URI": str(workdir / "lake"),
        "FEATURELAKE_MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "FEATURELAKE_STATE_DIR": str(workdir / "state"),
        "PREFECT_HOME": str(workdir / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    command = [sys.executable, __file__, "--child", "--workdir", str(workdir), "--runs", str(args.runs)]
    command += ["--rows", str(args.rows), "--days", str(args.days), "--customers", str(args.customers)]
    print("running the build-features flow (a local Prefect test server starts first) ...", flush=True)
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the flow child failed:\n{done.stderr[-6000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(args: argparse.Namespace, result: dict[str, Any], started_at: str) -> None:
    runs = result["runs"]
    median = {k: statistics.median(r[k] for r in runs) for k in ("wall", "work", "validate", "around")}
    around_share = (median["around"] + median["validate"]) / median["work"]
    validate_share = median["validate"] / median["work"]
    steps = {k: statistics.median(r["steps"].get(k, 0.0) for r in runs) for k in runs[0]["steps"]}
    inc = result["incremental"]
    lines = [
        f"`build-features` flow, full build of {args.rows:,} rows over {args.days} days "
        f"({args.runs} runs, medians; first run untimed: {result['warm_up_s']:.1f} s with imports)",
        "",
        "| part | seconds | share of work |",
        "|---|---:|---:|",
        f"| work: read + compute + write | {median['work']:.2f} | 100 % |",
        f"| validation (GX suite, polars engine) | {median['validate']:.2f} | {validate_share:.0%} |",
        f"| around: orchestration, lineage, drift, publish | {median['around']:.2f} "
        f"| {median['around'] / median['work']:.0%} |",
        f"| flow wall time | {median['wall']:.2f} | {median['wall'] / median['work']:.0%} |",
        "",
        "Steps inside the chunks (medians, s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()),
        "",
        f"Incremental build of one new day through the same flow: {inc['wall']:.2f} s "
        f"(work {inc['work']:.2f}, validation {inc['validate']:.2f}, around {inc['around']:.2f}).",
        "",
        f"Targets: everything around the work ≤ 30 % of it → {around_share:.0%} "
        f"{'met' if around_share <= 0.30 else 'NOT met'}; validation ≤ 15 % → {validate_share:.0%} "
        f"{'met' if validate_share <= 0.15 else 'NOT met'}",
    ]
    text = "\n".join(lines)
    print(text)
    data = {"args": vars(args), "result": result, "medians": median, "machine": harness.machine()}
    harness.write_results("pipeline", started_at, data, text + "\n")


if __name__ == "__main__":
    main()

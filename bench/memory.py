"""Bounded memory: a build given a memory budget smaller than its input stays under that budget.

Issue 7: "with a configured memory budget smaller than the input's in-memory size, a build
completes with peak RSS under the budget (streaming or partitioned processing)". This script

1. writes ``--rows`` synthetic card transactions over ``--days`` days into a bronze Delta table
   (one append per day, as ingestion does);
2. measures the input's in-memory size: every bronze row as polars holds it (``estimated_size``),
   summed file by file in its own process (one frame of 100M rows would need ~12 GiB);
3. builds customer_txn:v1 from scratch twice, each in a fresh child process: without a budget
   (one chunk: the whole history at once; ``--skip-unbudgeted`` leaves it out, at 100M rows it
   would need ~45 GiB) and with ``FEATURELAKE_BUILD_MEMORY_BUDGET`` set to ``--budget-fraction``
   of the input's size, at least 1 GiB (days in chunks that fit, one after another);
4. joins a training set over the published table in a fresh child: ``--training-spine`` rows
   (random customers of the population, times spread over the days, a label; seeded) through
   ``FeatureStore.get_training_set(..., memory_budget=...)`` with the training budget
   (``--training-budget-mib``; default the build's budget), which joins time
   slabs of the spine that fit it. Its input is the spine plus the feature table as the join
   holds it (keys, time, features; summed file by file after the join);
5. reports each run's peak RSS (``VmHWM``, the whole process: interpreter and libraries
   included), its chunks (slabs), the files and bytes the training set read (its manifest), the
   load average (other work on the machine shares its cores), and whether it stayed under its
   budget. Both builds must publish the same rows and the training set must have the spine's rows
   (checked); results go to ``bench/results/memory-<UTC>``.

    .venv/bin/python bench/memory.py                          # 30M rows over 180 days, budget 50 %
    .venv/bin/python bench/memory.py --rows 2000000 --days 20 --training-spine 200000   # smoke
    .venv/bin/python bench/memory.py --rows 100000000 --days 180 --skip-unbudgeted --budget-fraction 0.4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.incremental import _append_day, _store, build

#: The smallest budget used: a build process holds ~0.3 GiB (interpreter, polars, the gate's library) and
#: needs ~0.4 GiB more whatever its chunks (``featurelake.build.budget``); below that no budget can be met.
MIN_BUDGET = 2**30


def child(args: argparse.Namespace) -> None:
    """Measure the input (``--measure``), join a training set (``--training``) or build under ``--budget`` bytes."""
    from featurelake.build.budget import max_rows_for_budget, resident_bytes
    from featurelake.core.fingerprint import fingerprint
    from features.customer_txn import CUSTOMER_TXN

    store = _store(Path(args.workdir) / "lake")
    if args.measure:
        print(json.dumps(_measure_bronze(store)))
        return
    if args.training:
        print(json.dumps(_training_set(store, args) | {"load": os.getloadavg()}))
        return
    import great_expectations  # noqa: F401 - the gate's library counts as baseline, as in the flow

    harness.reset_peak_rss()
    baseline = resident_bytes()
    max_rows = max_rows_for_budget(CUSTOMER_TXN, args.budget or None, baseline)
    audit = {"featurelake.actor": "bench", "featurelake.fingerprint": fingerprint(CUSTOMER_TXN)}
    started = time.perf_counter()
    done = build(store, max_rows, audit)
    seconds = time.perf_counter() - started
    rows = store.existing("features/customer_txn/v1").count()
    result = {"seconds": seconds, "chunks": len(done["days"]), "max_rows": max_rows, "table_rows": rows}
    peak = {"baseline_mib": baseline / 2**20, "peak_rss_mib": harness.peak_rss_mib(), "load": os.getloadavg()}
    print(json.dumps(result | peak))


def _measure_bronze(store: Any) -> dict[str, int]:
    """Every bronze row as one polars frame would hold it, and the columns a build reads, file by file."""
    from featurelake.core.ties import BRONZE_ORDER
    from features.customer_txn import CUSTOMER_TXN

    needed = [*CUSTOMER_TXN.source_columns(), *BRONZE_ORDER]
    sizes = {"input_bytes": 0, "input_rows": 0, "columns_read_bytes": 0}
    for part in _file_frames(store, "bronze/transactions", None):
        sizes["input_bytes"] += part.estimated_size()
        sizes["input_rows"] += part.height
        sizes["columns_read_bytes"] += part.select(needed).estimated_size()
    return sizes


def _file_frames(store: Any, path: str, columns: list[str] | None) -> Any:
    """The table's current files one at a time, as polars frames (never the whole table at once)."""
    import polars as pl

    for fragment in store.existing(path).to_pyarrow_dataset().get_fragments():
        yield pl.from_arrow(fragment.to_table(columns=columns))


def _training_set(store: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``get_training_set`` over the whole table under ``--budget`` bytes; then the input it joined, measured."""
    from featurelake.build.budget import resident_bytes
    from featurelake.retrieve.featurestore import FeatureStore
    from features.customer_txn import CUSTOMER_TXN

    spine = _spine(args)
    harness.reset_peak_rss()
    baseline = resident_bytes()
    started = time.perf_counter()
    result = FeatureStore(store, [CUSTOMER_TXN]).get_training_set(
        spine, [CUSTOMER_TXN.ref], spine_time="event_time", memory_budget=args.budget
    )
    seconds = time.perf_counter() - started
    peak = harness.peak_rss_mib()
    if result.frame.height != spine.height:
        sys.exit(f"the training set has {result.frame.height} rows, the spine {spine.height}")
    (reads,) = result.manifest["feature_sets"]
    columns = [*CUSTOMER_TXN.entity_keys, CUSTOMER_TXN.event_time, *CUSTOMER_TXN.feature_names]
    del result
    table_bytes = sum(part.estimated_size() for part in _file_frames(store, CUSTOMER_TXN.table_path, columns))
    return {
        "seconds": seconds,
        "chunks": reads["chunks"],
        "spine_rows": spine.height,
        "spine_bytes": spine.estimated_size(),
        "table_bytes": table_bytes,
        "input_bytes": spine.estimated_size() + table_bytes,
        "reads": {k: reads[k] for k in ("delta_version", "files_read", "files_total", "bytes_read", "bytes_total")},
        "baseline_mib": baseline / 2**20,
        "peak_rss_mib": peak,
    }


def _spine(args: argparse.Namespace) -> Any:
    """``--training-spine`` rows: customers of the generated population, times over the days, a label (seeded)."""
    import numpy as np
    import polars as pl

    from bench.incremental import START, _epoch_us

    rng = np.random.default_rng(args.seed * 1_000_003 + 16)
    rows = args.training_spine
    micros = pl.Series(rng.integers(0, args.days * 86_400 * 1_000_000, rows), dtype=pl.Int64) + _epoch_us(START)
    return pl.DataFrame(
        {
            "customer_id": pl.Series(rng.integers(0, args.customers, rows)).cast(pl.String),
            "event_time": micros.cast(pl.Datetime("us", "UTC")),
            "label": pl.Series(rng.integers(0, 2, rows), dtype=pl.Int8),
        }
    )


def _day(offset: int) -> Any:
    from datetime import timedelta

    from bench.incremental import START

    return (START + timedelta(days=offset)).date()


def _child(args: argparse.Namespace, workdir: str, *extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--workdir", workdir, "--days", str(args.days)]
    command += ["--seed", str(args.seed), "--customers", str(args.customers)]
    command += ["--training-spine", str(args.training_spine), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"child {extra} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--budget-fraction", type=float, default=0.5)
    parser.add_argument("--skip-unbudgeted", action="store_true", help="build only under the budget")
    parser.add_argument("--training-spine", type=int, default=10_000_000, help="spine rows (0: no training set)")
    parser.add_argument("--training-budget-mib", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--training", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    started_at = harness.utc_now()
    with tempfile.TemporaryDirectory(prefix="featurelake-memory-") as tmp:
        workdir = args.workdir or tmp
        generate(args, workdir)
        print("measuring the input ...", flush=True)
        measured = _child(args, workdir, "--measure")
        budgets = {"no budget": 0, "budget": max(int(measured["input_bytes"] * args.budget_fraction), MIN_BUDGET)}
        if args.skip_unbudgeted:
            del budgets["no budget"]
        runs = {}
        for name, limit in budgets.items():
            shutil.rmtree(Path(workdir) / "lake" / "features", ignore_errors=True)
            print(f"building with {name} ...", flush=True)
            runs[name] = _child(args, workdir, "--budget", str(limit))
        if args.training_spine:
            budgets["training set"] = _training_budget(args, budgets["budget"])
            print(f"training set of {args.training_spine:,} spine rows ...", flush=True)
            runs["training set"] = _child(args, workdir, "--training", "--budget", str(budgets["training set"]))
    report(args, measured, budgets, runs, started_at)


def _training_budget(args: argparse.Namespace, build_budget: int) -> int:
    """``--training-budget-mib``, or the build's budget."""
    if args.training_budget_mib is not None:
        return int(args.training_budget_mib * 2**20)
    return build_budget


def generate(args: argparse.Namespace, workdir: str) -> None:
    """Bronze: ``--rows`` rows over ``--days`` days, one append per day (skipped when present)."""
    store = _store(Path(workdir) / "lake")
    if store.version("bronze/transactions") is not None:
        return
    per_day = argparse.Namespace(rows_per_day=args.rows // args.days, customers=args.customers, seed=args.seed)
    for day in range(args.days):
        _append_day(store, day, per_day)
        print(f"\rgenerated day {day + 1}/{args.days}", end="", flush=True)
    print()


def report(
    args: argparse.Namespace, measured: dict[str, Any], budgets: dict[str, int], runs: dict[str, Any], started_at: str
) -> None:
    """The table (one row per run), checked: both builds published the same rows."""
    builds = [run["table_rows"] for name, run in runs.items() if name != "training set"]
    if len(set(builds)) > 1:
        sys.exit(f"the two builds published different row counts: {runs}")
    mib = 2**20
    lines = [
        f"customer_txn:v1 from {measured['input_rows']:,} bronze rows over {args.days} days "
        f"(input in memory: {measured['input_bytes'] / mib:,.0f} MiB; build budget "
        f"{budgets['budget'] / mib:,.0f} MiB = the larger of {args.budget_fraction:.0%} of it "
        f"and {MIN_BUDGET / mib:,.0f} MiB)",
        "",
        "| run | rows | chunks | files read | MiB read | seconds | baseline (MiB) | peak RSS (MiB) "
        "| budget (MiB) | under budget | input (MiB) | peak / input | load 1/5/15 min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    lines += [_row(name, run, budgets[name], measured) for name, run in runs.items()]
    if args.skip_unbudgeted:
        lines += ["", "Build without a budget: skipped (--skip-unbudgeted): one chunk of the whole history."]
    if "training set" in runs:
        lines += [
            "",
            f"Training set: {args.training_spine:,} spine rows (random customers, times over the {args.days} days) "
            "joined over the whole published table; rows = spine rows (checked); input = the spine plus the "
            "table's keys, time and features in memory; files/MiB read from its manifest.",
        ]
    text = "\n".join(lines)
    print(text)
    data = {"args": vars(args), "measured": measured, "budgets": budgets, "runs": runs, "machine": harness.machine()}
    harness.write_results("memory", started_at, data, text)


def _row(name: str, run: dict[str, Any], budget: int, measured: dict[str, Any]) -> str:
    mib = 2**20
    peak = run["peak_rss_mib"] * mib
    under = "-" if not budget else ("yes" if peak <= budget else "**NO**")
    reads = run.get("reads")
    files = "-" if reads is None else f"{reads['files_read']:,} of {reads['files_total']:,}"
    read = "-" if reads is None else f"{reads['bytes_read'] / mib:,.0f} of {reads['bytes_total'] / mib:,.0f}"
    rows = run.get("spine_rows", run.get("table_rows"))
    input_bytes = run.get("input_bytes", measured["input_bytes"])
    return (
        f"| {name} | {rows:,} | {run['chunks']} | {files} | {read} | {run['seconds']:.1f} | {run['baseline_mib']:.0f} "
        f"| {peak / mib:,.0f} | {f'{budget / mib:,.0f}' if budget else '-'} | {under} | {input_bytes / mib:,.0f} "
        f"| {peak / input_bytes:.2f}× | {' / '.join(f'{x:.1f}' for x in run['load'])} |"
    )


if __name__ == "__main__":
    main()

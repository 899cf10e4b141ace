"""Bounded memory: a build given a memory budget smaller than its input stays under that budget.

Issue 7: "with a configured memory budget smaller than the input's in-memory size, a build
completes with peak RSS under the budget (streaming or partitioned processing)". This script

1. writes ``--rows`` synthetic card transactions over ``--days`` days into a bronze Delta table
   (one append per day, as ingestion does);
2. measures the input's in-memory size: the bronze columns a customer_txn build reads, loaded
   as one polars frame (``estimated_size``), in its own process;
3. builds customer_txn:v1 from scratch twice, each in a fresh child process: without a budget
   (one chunk: the whole history at once) and with ``FEATURELAKE_BUILD_MEMORY_BUDGET`` set to
   ``--budget-fraction`` of the input's size (days in chunks that fit, one after another);
4. reports each build's peak RSS (``VmHWM``, the whole process: interpreter and libraries
   included), the chunks it used, and whether the budgeted build stayed under its budget. Both
   builds must publish the same rows (checked); results go to ``bench/results/memory-<UTC>``.

    .venv/bin/python bench/memory.py                          # 30M rows over 180 days, budget 50 %
    .venv/bin/python bench/memory.py --rows 2000000 --days 20   # smoke
"""

from __future__ import annotations

import argparse
import json
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


def child(args: argparse.Namespace) -> None:
    """Measure the input (``--measure``) or build under ``--budget`` bytes (0: no budget)."""
    from featurelake.build.budget import max_rows_for_budget, resident_bytes
    from featurelake.build.source import read_chunk_source
    from featurelake.core.fingerprint import fingerprint
    from featurelake.core.increments import DayChunk
    from features.customer_txn import CUSTOMER_TXN

    store = _store(Path(args.workdir) / "lake")
    if args.measure:
        bronze = store.read(
            "bronze/transactions"
        )  # the input: every bronze row, as a build without chunks would see it
        needed = read_chunk_source(
            store, CUSTOMER_TXN, store.version("bronze/transactions"), DayChunk(_day(0), _day(args.days))
        )
        sizes = {
            "input_bytes": bronze.estimated_size(),
            "input_rows": bronze.height,
            "columns_read_bytes": needed.estimated_size(),
        }
        print(json.dumps(sizes))
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
    print(json.dumps(result | {"baseline_mib": baseline / 2**20, "peak_rss_mib": harness.peak_rss_mib()}))


def _day(offset: int) -> Any:
    from datetime import timedelta

    from bench.incremental import START

    return (START + timedelta(days=offset)).date()


def _child(args: argparse.Namespace, workdir: str, *extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--workdir", workdir, "--days", str(args.days), *extra]
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
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    started_at = harness.utc_now()
    with tempfile.TemporaryDirectory(prefix="featurelake-memory-") as tmp:
        workdir = args.workdir or tmp
        generate(args, workdir)
        measured = _child(args, workdir, "--measure")
        budget = int(measured["input_bytes"] * args.budget_fraction)
        runs = {}
        for name, limit in (("no budget", 0), ("budget", budget)):
            shutil.rmtree(Path(workdir) / "lake" / "features", ignore_errors=True)
            print(f"building with {name} ...", flush=True)
            runs[name] = _child(args, workdir, "--budget", str(limit))
    report(args, measured, budget, runs, started_at)


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
    args: argparse.Namespace, measured: dict[str, Any], budget: int, runs: dict[str, Any], started_at: str
) -> None:
    if runs["no budget"]["table_rows"] != runs["budget"]["table_rows"]:
        sys.exit(f"the two builds published different row counts: {runs}")
    mib = 2**20
    lines = [
        f"Full build of customer_txn:v1 from {measured['input_rows']:,} bronze rows "
        f"(input in memory: {measured['input_bytes'] / mib:,.0f} MiB; budget {budget / mib:,.0f} MiB "
        f"= {args.budget_fraction:.0%} of it)",
        "",
        "| build | chunks | seconds | process baseline (MiB) | peak RSS (MiB) | peak / input | under budget |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, run in runs.items():
        under = "-" if name == "no budget" else ("yes" if run["peak_rss_mib"] * mib <= budget else "**NO**")
        lines.append(
            f"| {name} | {run['chunks']} | {run['seconds']:.1f} | {run['baseline_mib']:.0f} "
            f"| {run['peak_rss_mib']:,.0f} | {run['peak_rss_mib'] * mib / measured['input_bytes']:.2f}× | {under} |"
        )
    text = "\n".join(lines)
    print(text)
    data = {
        "args": vars(args),
        "measured": measured,
        "budget_bytes": budget,
        "runs": runs,
        "machine": harness.machine(),
    }
    harness.write_results("memory", started_at, data, text)


if __name__ == "__main__":
    main()

"""Incremental builds: does one new day cost the same after 180 days of history as after 10?

Issue 7's target: "day 181 with 180 days already in the table takes ≤ 1.5× the time of day 11
with 10 days". For each history length H (10 and 180 by default) this script

1. writes H days of synthetic card transactions into a bronze Delta table, one append per day
   (as ingestion does: one commit per raw object), ``--rows-per-day`` rows each;
2. builds customer_txn:v1 over all of it (untimed; in chunks so the setup fits in memory);
3. appends day H+1 and times the build that follows: plan (read both bronze snapshots' logs,
   diff them), read the day plus the 7-day lookback by file statistics, compute, validate with
   the gate, replace the day's partition. The same library calls the ``build-features`` flow
   makes, without the Prefect/MLflow bookkeeping around them (``bench/run.py`` measures that).

Each history runs in a fresh child process (peak RSS its own); the build of day H+1 is timed
``--runs`` times (it replaces the same partition each time, which is idempotent), medians and
the ratio are printed and written to ``bench/results/incremental-<UTC>.{json,md}``.

    .venv/bin/python bench/incremental.py                        # 100k rows/day, 10 vs 180 days
    .venv/bin/python bench/incremental.py --rows-per-day 20000 --runs 3   # smoke
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

START = datetime(2026, 1, 1, tzinfo=UTC)


def _day_frame(day: int, rows: int, customers: int, seed: int) -> Any:
    """One day of transactions with bronze's bookkeeping columns (seeded per day)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed * 100_003 + day)
    weights = rng.lognormal(0, 1.2, customers)
    customer = rng.choice(customers, size=rows, p=weights / weights.sum())
    seconds = rng.integers(0, 86_400 * 1_000_000, rows)
    key = f"transactions/day={(START + timedelta(days=day)).date()}/part-0.parquet"
    return pl.DataFrame(
        {
            "txn_id": [f"d{day}-{i}" for i in range(rows)],
            "customer_id": customer.astype(str),
            "merchant_id": rng.integers(0, 5_000, rows).astype(str),
            "amount": rng.lognormal(3.5, 1.0, rows).round(2),
            "currency": ["EUR"] * rows,
            "event_time": (pl.Series(seconds, dtype=pl.Int64) + _epoch_us(START + timedelta(days=day))).cast(
                pl.Datetime("us", "UTC")
            ),
        }
    ).with_columns(
        pl.lit(key).alias("_source_key"),
        pl.lit(f'"{day:032x}"').alias("_source_etag"),
        pl.lit(START + timedelta(days=day + 1), dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"),
    )


def _epoch_us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000


def _store(lake: Path) -> Any:
    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import Settings

    return DeltaStore(Settings(lake_uri=str(lake)))


def _append_day(store: Any, day: int, args: argparse.Namespace) -> None:
    store.write(
        "bronze/transactions",
        _day_frame(day, args.rows_per_day, args.customers, args.seed),
        mode="append",
        metadata={"featurelake.operation": "ingest", "featurelake.day": str(day)},
    )


def build(store: Any, max_rows: int | None, audit: dict[str, str]) -> dict[str, Any]:
    """Plan and build like the flow does (chunks one after another), returning what was done."""
    from featurelake.build import publish
    from featurelake.build.batch import combine_outcomes
    from featurelake.build.chunks import build_chunk
    from featurelake.build.plan import plan_build
    from features.customer_txn import CUSTOMER_TXN as SPEC

    bronze_version = store.version("bronze/transactions")
    plan = plan_build(store, SPEC, bronze_version, max_rows)
    if not plan.chunks:
        publish.publish_unchanged(store, SPEC, plan, audit)
    publish.prepare(store, SPEC, plan)
    instructions = publish.chunk_instructions(plan, SPEC, audit)
    results = [
        build_chunk(
            store,
            SPEC,
            chunk,
            bronze_version=bronze_version,
            instructions=instructions,
            user_expectations=[],
            sample_rows=1_000,
        )
        for chunk in plan.chunks
    ]
    if results:
        publish.finish(store, SPEC, plan, results, audit, combine_outcomes([r.outcome for r in results]))
    return {
        "mode": "full" if plan.full else "incremental",
        "days": [c.label for c in plan.chunks],
        "source_rows_read": sum(r.source_rows for r in results),
        "feature_rows": sum(r.rows for r in results),
    }


def child(args: argparse.Namespace) -> None:
    """One history length: set up (untimed), then time the build of the next day."""
    store = _store(Path(args.workdir) / f"lake-{args.history}")
    from featurelake.core.fingerprint import fingerprint
    from features.customer_txn import CUSTOMER_TXN

    audit = {"featurelake.actor": "bench", "featurelake.fingerprint": fingerprint(CUSTOMER_TXN)}
    for day in range(args.history):
        _append_day(store, day, args)
    setup = build(store, max_rows=3_000_000, audit=audit)
    _append_day(store, args.history, args)
    first = build(store, max_rows=None, audit=audit)  # the real incremental build (also warms imports)
    if first["mode"] != "incremental" or len(first["days"]) != 1:
        sys.exit(f"the build after day {args.history} was not an incremental build of one day: {first}")
    timings = []
    harness.reset_peak_rss()
    for _ in range(args.runs):
        gc.collect()
        started = time.perf_counter()
        again = _rebuild_new_day(store, audit)
        timings.append(time.perf_counter() - started)
    result = {
        "history_days": args.history,
        "setup": setup | {"days": len(setup["days"])},
        "incremental": first,
        "timed_rebuild": again,
        "seconds": timings,
        "median_s": statistics.median(timings),
        "peak_rss_mib": harness.peak_rss_mib(),
        "bronze_commits": store.version("bronze/transactions") + 1,
        "feature_commits": store.version("features/customer_txn/v1") + 1,
    }
    print(json.dumps(result))


def _rebuild_new_day(store: Any, audit: dict[str, str]) -> dict[str, Any]:
    """The incremental build of the new day again, planned against the bronze version before it.

    After the first incremental build the table's base is already the new day, so the replay
    names the base explicitly; everything else (log reads, window read, compute, gate, write)
    is the same work, and rewriting the same partition is idempotent.
    """
    from featurelake.build.chunks import build_chunk
    from featurelake.build.plan import incremental_base, plan_from_base
    from featurelake.build.publish import ChunkInstructions
    from features.customer_txn import CUSTOMER_TXN as SPEC

    bronze_version = store.version("bronze/transactions")
    incremental_base(store, SPEC)  # what the flow reads to find its base (timed; result unused)
    plan = plan_from_base(store, SPEC, bronze_version, bronze_version - 1, max_rows=None)
    (chunk,) = plan.chunks
    result = build_chunk(
        store,
        SPEC,
        chunk,
        bronze_version=bronze_version,
        instructions=ChunkInstructions({**audit, "featurelake.operation": "bench-replay"}),
        user_expectations=[],
        sample_rows=1_000,
    )
    return {"days": [chunk.label], "source_rows_read": result.source_rows, "feature_rows": result.rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows-per-day", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--histories", default="10,180")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--history", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    started_at = harness.utc_now()
    with tempfile.TemporaryDirectory(prefix="featurelake-incremental-") as tmp:
        workdir = args.workdir or tmp
        results = [_run_child(args, int(h), workdir) for h in args.histories.split(",")]
    report(args, results, started_at)


def _run_child(args: argparse.Namespace, history: int, workdir: str) -> dict[str, Any]:
    import subprocess

    command = [sys.executable, __file__, "--child", "--history", str(history), "--workdir", workdir]
    command += ["--rows-per-day", str(args.rows_per_day), "--customers", str(args.customers)]
    command += ["--runs", str(args.runs), "--seed", str(args.seed)]
    print(f"history {history} days: setting up and timing ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"history {history}: the child failed:\n{done.stderr[-4000:]}")
    output = done.stdout
    return json.loads(output.strip().splitlines()[-1])


def report(args: argparse.Namespace, results: list[dict[str, Any]], started_at: str) -> None:
    base = results[0]["median_s"]
    lines = [
        f"Incremental build of one new day ({args.rows_per_day:,} rows/day, {args.runs} runs, medians)",
        "",
        "| history (days) | bronze commits | days recomputed | source rows read "
        "| median (s) | vs first | peak RSS (MiB) |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['history_days']} | {r['bronze_commits']} | {', '.join(r['timed_rebuild']['days'])} "
            f"| {r['timed_rebuild']['source_rows_read']:,} | {r['median_s']:.3f} | {r['median_s'] / base:.2f}× "
            f"| {r['peak_rss_mib']:.0f} |"
        )
    ratio = results[-1]["median_s"] / base
    lines += ["", f"Target: ≤ 1.5× → {ratio:.2f}× {'met' if ratio <= 1.5 else 'NOT met'}"]
    text = "\n".join(lines)
    print(text)
    report_data = {"args": vars(args), "results": results, "ratio": ratio, "machine": harness.machine()}
    harness.write_results("incremental", started_at, report_data, text)


if __name__ == "__main__":
    main()

"""Benchmark: the validation gate on a feature batch, polars engine against GX's pandas engine.

One run generates one customer_txn-shaped feature batch (fixed seed; the key columns, event
time and the twelve window features of ``features.customer_txn``, 14 columns, sorted by key like
``compute_features`` returns it) and times ``featurelake.validate.gate.validate_batch`` on it, the
call the build flow makes: the spec's suite (row count, key uniqueness, not-null, existence and
bounds of every feature) plus a few owner expectations (max, mean, median, standard deviation).

* ``polars``: ``validate_batch(..., engine="polars")``: GX builds the suite and judges the metrics,
  polars computes them;
* ``gx-pandas``: ``validate_batch(..., engine="gx-pandas")``: GX alone, on ``batch.to_pandas()``
  (the conversion is inside the timed call, as it is inside the gate; its own time is reported);
* ``polars-unsorted``: the polars engine on the same rows shuffled, where key uniqueness cannot
  use the sorted-neighbours check and hashes every key.

Every engine runs in a fresh child process (``VmHWM`` is its own peak RSS), imports GX and reads
the batch before the clock starts (GX's import takes seconds: start-up, not validation), warms up
on 1,000 rows, then times ``--runs`` calls. The engines' verdicts (success, failures, counts)
must agree or the run fails. Results: a markdown table on stdout and
``bench/results/validation-<UTC>.{json,md}``.

    .venv/bin/python bench/validation.py                 # 10M rows, 5 runs
    .venv/bin/python bench/validation.py --rows 200000 --runs 2   # smoke

Only the standard library is imported at module level; :func:`generate` and :func:`time_engine`
can be imported by another harness.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ENGINES = ("polars", "gx-pandas", "polars-unsorted")
BASELINE = "gx-pandas"
SEED = 20_261_126
CUSTOMERS = 100_000
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
#: Owner expectations like the ones kept beside a feature set (``<name>.v<version>.expectations.yaml``).
USER_EXPECTATIONS: list[dict[str, Any]] = [
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "amount_max_1h", "max_value": 100_000}},
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount_count_24h", "min_value": 1}},
    {"type": "expect_column_median_to_be_between", "kwargs": {"column": "amount_mean_7d", "min_value": 0}},
    {"type": "expect_column_stdev_to_be_between", "kwargs": {"column": "amount_sum_24h", "max_value": 1e9}},
]


def generate(rows: int, seed: int = SEED) -> Any:
    """A customer_txn feature batch: ``rows`` rows over 100k customers, sorted by (customer, event time).

    Values respect the spec's bounds (counts >= 1, amounts >= 0), so every expectation evaluates
    its whole column and none stops early; event times are unique per customer (the key).
    """
    import numpy as np
    import polars as pl

    from features.customer_txn import CUSTOMER_TXN

    rng = np.random.default_rng(seed)
    customers = np.sort(rng.integers(0, CUSTOMERS, rows))
    start_us = 1_767_225_600_000_000  # 2026-01-01 UTC
    offsets = np.arange(rows, dtype=np.int64) * 1_000_000 + rng.integers(0, 1_000_000, rows)
    columns: dict[str, Any] = {"customer_id": customers, "event_time": start_us + offsets}
    for feature in CUSTOMER_TXN.features:
        if feature.dtype == pl.Int64:
            columns[feature.name] = rng.integers(1, 200, rows)
        else:
            columns[feature.name] = rng.gamma(2.0, 40.0, rows)
    frame = pl.DataFrame(columns).with_columns(
        pl.format("c{}", pl.col("customer_id").cast(pl.String).str.zfill(6)).alias("customer_id"),
        pl.col("event_time").cast(pl.Datetime("us", "UTC")),
    )
    return frame.select(CUSTOMER_TXN.output_schema().keys()).sort("customer_id", "event_time")


def time_engine(engine: str, batch: Any, runs: int) -> dict[str, Any]:
    """Time ``runs`` calls of the gate with one engine (GX already imported), after a warm-up.

    ``polars-unsorted`` expects ``batch`` already shuffled (see :func:`run_child`).
    """
    from featurelake.validate.gate import validate_batch
    from features.customer_txn import CUSTOMER_TXN

    gate = "gx-pandas" if engine == "gx-pandas" else "polars"
    validate_batch(CUSTOMER_TXN, batch.head(1_000), batch.height, USER_EXPECTATIONS, engine=gate)
    seconds, cpu, outcome = [], [], None
    for _ in range(runs):
        outcome = None
        gc.collect()
        wall, process = time.perf_counter(), time.process_time()
        outcome = validate_batch(CUSTOMER_TXN, batch, batch.height, USER_EXPECTATIONS, engine=gate)
        seconds.append(time.perf_counter() - wall)
        cpu.append(time.process_time() - process)
    assert outcome is not None
    return {
        "engine": engine,
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "median_cpu_seconds": statistics.median(cpu),
        "expectations": outcome.evaluated,
        "engines_used": outcome.result["meta"].get("featurelake.engine"),
        "verdict": {
            "success": outcome.success,
            "failed": list(outcome.failed),
            "warnings": list(outcome.warnings),
            "metrics": outcome.metrics(),
        },
    }


def run_child(engine: str, workdir: Path, runs: int) -> None:
    """One engine in this fresh process: imports and input untimed, then the timed runs."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (seconds of start-up, not validation)
    import polars as pl

    import_seconds = time.perf_counter() - started
    batch = pl.read_parquet(workdir / "batch.parquet")
    if engine == "polars-unsorted":  # shuffled before the peak-RSS reset: one copy resident, like the others
        batch = batch.sample(fraction=1.0, shuffle=True, seed=SEED)
    record = {"import_seconds": import_seconds, "input_mib": batch.estimated_size() / 2**20, "columns": batch.width}
    if engine == "gx-pandas":
        conversions = []
        for _ in range(runs):
            wall = time.perf_counter()
            converted = batch.to_pandas()
            conversions.append(time.perf_counter() - wall)
            del converted
        record["to_pandas_median_seconds"] = statistics.median(conversions)
    gc.collect()
    record["rss_mib_before_runs"] = _status_mib("VmRSS")
    _reset_peak_rss()
    record |= time_engine(engine, batch, runs)
    record["peak_rss_mib"] = _status_mib("VmHWM")
    record["load_avg_end"] = os.getloadavg()
    (workdir / f"{engine}.json").write_text(json.dumps(record, default=str))


def spawn_child(engine: str, workdir: Path, runs: int) -> dict[str, Any]:
    """Run one engine in a fresh interpreter and read back what it measured."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", engine, "--workdir", str(workdir)]
    load = os.getloadavg()
    completed = subprocess.run([*command, "--runs", str(runs)], check=False, cwd=ROOT)
    if completed.returncode != 0:
        raise SystemExit(f"{engine} failed (exit {completed.returncode})")
    return {**json.loads((workdir / f"{engine}.json").read_text()), "load_avg_start": load}


def _status_mib(field: str) -> float | None:
    """A field of /proc/self/status in MiB (VmHWM: this process's own peak, unlike ru_maxrss)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    line = next((x for x in status.read_text().splitlines() if x.startswith(f"{field}:")), None)
    return None if line is None else int(line.split()[1]) / 2**10


def _reset_peak_rss() -> None:
    """Restart VmHWM from the current RSS, so the peak covers the timed runs (with the input resident)."""
    with contextlib.suppress(OSError):  # not Linux: the peak then includes loading
        Path("/proc/self/clear_refs").write_text("5")


def verify(records: dict[str, dict[str, Any]]) -> None:
    """Every engine must reach the same verdict with the same failures."""
    verdicts = {engine: json.dumps(r["verdict"], sort_keys=True) for engine, r in records.items()}
    if len(set(verdicts.values())) > 1:
        raise SystemExit("VERDICTS DISAGREE:\n  " + "\n  ".join(f"{e}: {v}" for e, v in verdicts.items()))


def markdown_table(records: dict[str, dict[str, Any]]) -> str:
    """One row per engine: median, spread, ratio to GX pandas, CPU, peak RSS."""
    base = records.get(BASELINE)
    lines = [
        "| engine | median (s) | min (s) | runs (s) | vs gx-pandas | median CPU (s) | peak RSS (MiB) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for engine, r in records.items():
        ratio = f"{r['median_seconds'] / base['median_seconds']:.3f}×" if base else "n/a"
        runs = ", ".join(f"{s:.2f}" for s in r["seconds"])
        peak = "–" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f}"
        lines.append(
            f"| {engine} | {r['median_seconds']:.3f} | {r['min_seconds']:.3f} | {runs} | {ratio} "
            f"| {r['median_cpu_seconds']:.2f} | {peak} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    names = ["polars", "pandas", "numpy", "pyarrow", "great-expectations"]
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()} | {
        "libraries": versions
    }


def code_revision() -> str:
    """The featurelake commit measured, marked when src/ differs from it."""

    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' (src/ modified)' if dirty else ''}"


def write_report(report: dict[str, Any], table: str) -> tuple[Path, Path]:
    """Save the results as JSON and markdown under bench/results/, named by UTC time."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"validation-{report['started_at'].replace(':', '').replace('-', '')}"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    records, m = report["results"], report["machine"]
    gx = records.get(BASELINE, {})
    conversion = f"{gx['to_pandas_median_seconds']:.2f} s of it is `to_pandas`" if gx else "not measured"
    lines = [
        f"# Validation benchmark, {report['started_at']}",
        "",
        f"`{report['command']}` (featurelake {report['code_revision']})",
        "",
        f"{report['rows']:,} rows × {report['columns']} columns ({report['input_mib']:.0f} MiB in polars), "
        f"{report['expectations']} checks (GX suite + schema). Median of {report['runs']} runs per engine, "
        "each engine in a fresh process, GX imported and the batch loaded before timing.",
        "",
        table,
        "",
        f"- gx-pandas includes the conversion to pandas, as the gate does: {conversion}.",
        f"- Engines used per expectation (polars engine): {records.get('polars', {}).get('engines_used')}.",
        "- Peak RSS: the child's `VmHWM` during the timed runs, the input batch included.",
        "- All engines reached the same verdict (success, failures, warnings).",
        f"- Machine: {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}, {m['libraries']}.",
        f"- Load average (1 min): {report['load_avg_before'][0]:.2f} before, {report['load_avg_after'][0]:.2f} after.",
    ]
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--workdir", type=Path, default=None, help="kept, and its batch reused, when given")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(args.engines) - set(ENGINES) or args.runs < 1:
        parser.error(f"engines must come from {list(ENGINES)} and --runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args.child, args.workdir, args.runs)
        return
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="featurelake-bench-validation-")) if temporary else args.workdir.resolve()
    try:
        benchmark(args, workdir)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def benchmark(args: argparse.Namespace, workdir: Path) -> None:
    """Generate once, run every engine in its own child, verify, report."""
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_before = os.getloadavg()
    workdir.mkdir(parents=True, exist_ok=True)
    stamp, data = workdir / "rows.txt", workdir / "batch.parquet"
    if not (stamp.exists() and stamp.read_text() == str(args.rows) and data.exists()):
        print(f"generating {args.rows:,} rows in {workdir}", flush=True)
        batch = generate(args.rows)
        batch.write_parquet(data)
        stamp.write_text(str(args.rows))
        del batch
    records = {}
    for engine in args.engines:
        print(f"== {engine}: {args.runs} runs, fresh process", flush=True)
        records[engine] = spawn_child(engine, workdir, args.runs)
    verify(records)
    first = next(iter(records.values()))
    table = markdown_table(records)
    report = {
        "started_at": started_at,
        "command": " ".join(["python", "bench/validation.py", *sys.argv[1:]]),
        "code_revision": code_revision(),
        "rows": args.rows,
        "columns": first["columns"],
        "input_mib": first["input_mib"],
        "expectations": first["expectations"],
        "runs": args.runs,
        "machine": machine(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "results": records,
    }
    json_path, md_path = write_report(report, table)
    print(f"\n{table}\n\nverdicts agree; results in {json_path} and {md_path}", flush=True)


if __name__ == "__main__":
    main()

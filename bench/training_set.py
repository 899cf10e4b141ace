"""Benchmark: a point-in-time training set, featurelake against polars, pandas and DuckDB.

One run generates one data set (fixed seed), publishes it once as a featurelake Delta table and
then runs every engine on it, each in a fresh child process so that its peak RSS is its own:

* ``featurelake``: ``FeatureStore.get_training_set`` (end to end) and
  ``featurelake.core.pointintime.join_as_of`` on the frame featurelake's reader returns (join only);
* ``polars``: ``DataFrame.join_asof`` the documented way (both sides sorted by time, ``by`` the
  entity, ``strategy="backward"``, ``tolerance`` the TTL);
* ``pandas``: ``merge_asof`` (both sides sorted by time, ``by``, ``tolerance``, ``direction="backward"``);
* ``duckdb``: ``ASOF LEFT JOIN`` on entity and ``spine time >= event time``, feature values nulled
  when the matched row is older than the TTL, so that all four compute the same thing.

Each child times the join alone (inputs already in memory, in the engine's own format) and,
in a second fresh child, "read the Delta table + join". Every engine's output is written to
disk and compared row by row with the others and with a brute-force reference on a sample;
any difference fails the run. See ``bench/README.md`` for the fairness rules.

Only the standard library is imported at module level: children import just their engine,
so one engine's imports do not count against another's memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

ENGINES = ("featurelake", "polars", "pandas", "duckdb")
BASELINE = "duckdb"
MODES = ("join", "e2e")  # join only; read the Delta table + join
MODE_TITLES = {"join": "join only", "e2e": "read + join"}

SEED = 20_240_601
FEATURES = tuple(f"f{i}" for i in range(5))
KEY, EVENT_TIME, SPINE_TIME, ROW_ID = "entity_id", "event_time", "ts", "row_id"
TTL = timedelta(days=7)
DAYS = 90
START = datetime(2025, 1, 1, tzinfo=UTC)
UNKNOWN_SHARE = 0.02  # spine rows whose entity never appears in the feature table
REFERENCE_SAMPLE = 2_000  # spine rows checked against a brute-force evaluation of the definition
FEATURE_SET = "bench_fs"
FEATURE_REF = f"{FEATURE_SET}:v1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------------------------
# Data: generated once, in the parent, and shared by every engine through the workdir.
# --------------------------------------------------------------------------------------------


def bench_spec() -> Any:
    """The feature set the table is published under: entity, event time, five floats, TTL 7 days.

    The expressions are plain column references: the benchmark measures joins, not feature logic.
    """
    import polars as pl

    from featurelake.core.contracts import SourceContract
    from featurelake.core.featureset import Feature, FeatureSet

    columns: dict[str, pl.DataType] = {KEY: pl.Int64(), EVENT_TIME: pl.Datetime("us", "UTC")}
    columns.update({name: pl.Float64() for name in FEATURES})
    source = SourceContract(
        name="bench_source",
        columns=columns,
        required=tuple(columns),
        primary_key=(KEY, EVENT_TIME),
        event_time=EVENT_TIME,
    )
    return FeatureSet(
        name=FEATURE_SET,
        version=1,
        entity_keys=(KEY,),
        event_time=EVENT_TIME,
        source=source,
        features=tuple(Feature(name, pl.col(name), pl.Float64(), f"random float {name}") for name in FEATURES),
        description="synthetic feature set for bench/training_set.py",
        owner="bench",
        ttl=TTL,
    )


def bench_store(workdir: Path) -> Any:
    """A featurelake store whose lake is a local directory in the workdir."""
    from featurelake.io.delta import DeltaStore
    from featurelake.settings import Settings

    return DeltaStore(Settings(lake_uri=str(workdir / "lake")))


def table_uri(workdir: Path) -> str:
    """Where the feature table lives; the baselines read this same Delta table."""
    from featurelake.core.naming import feature_table_path

    return str(workdir / "lake" / feature_table_path(FEATURE_SET, 1))


def spine_path(workdir: Path) -> Path:
    return workdir / "spine.parquet"


def generate(workdir: Path, params: dict[str, int]) -> dict[str, Any]:
    """Write the spine (parquet) and the feature table (featurelake Delta table) once.

    Entities have skewed activity (log-normal weights) so that some are sparse enough for the
    TTL to matter; (entity, event time) is unique so "the latest row" is unambiguous for every
    engine; the spine is in random order, as a user's would be. Reused when the workdir already
    holds data generated with the same parameters.
    """
    import numpy as np
    import polars as pl

    from featurelake.io.feature_tables import write_feature_table

    stamp = workdir / "params.json"
    if stamp.exists() and json.loads(stamp.read_text())["params"] == params:
        print(f"reusing data in {workdir}", flush=True)
        return dict(json.loads(stamp.read_text())["data"])
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    entities, rows, spine_rows = params["entities"], params["feature_rows"], params["spine_rows"]
    unknown = max(1, int(entities * UNKNOWN_SHARE))
    ids = np.unique(rng.integers(1, 2**62, size=2 * (entities + unknown)))
    ids = rng.permutation(ids)[: entities + unknown]
    known_ids, unknown_ids = ids[:entities], ids[entities:]
    span_us = DAYS * 86_400 * 1_000_000
    start_us = int(START.timestamp()) * 1_000_000

    weights = rng.lognormal(0.0, 1.0, size=entities)
    drawn = rows + rows // 1000 + 10  # a margin for the (vanishingly rare) duplicate keys
    features = (
        pl.DataFrame(
            {
                KEY: known_ids[rng.choice(entities, size=drawn, p=weights / weights.sum())],
                EVENT_TIME: rng.integers(start_us, start_us + span_us, size=drawn),
                **{name: rng.standard_normal(drawn) for name in FEATURES},
            }
        )
        .with_columns(pl.col(EVENT_TIME).cast(pl.Datetime("us", "UTC")))
        .unique([KEY, EVENT_TIME], keep="first", maintain_order=True)
        .head(rows)
    )
    if features.height != rows:
        raise RuntimeError(f"could only draw {features.height} unique (entity, time) rows of {rows}")

    is_unknown = rng.random(spine_rows) < UNKNOWN_SHARE
    spine = pl.DataFrame(
        {
            ROW_ID: np.arange(spine_rows, dtype=np.int64),
            KEY: np.where(
                is_unknown,
                unknown_ids[rng.integers(0, unknown, size=spine_rows)],
                known_ids[rng.integers(0, entities, size=spine_rows)],
            ),
            SPINE_TIME: rng.integers(start_us, start_us + span_us, size=spine_rows),
            "label": rng.integers(0, 2, size=spine_rows, dtype=np.int8),
        }
    ).with_columns(pl.col(SPINE_TIME).cast(pl.Datetime("us", "UTC")))
    spine.write_parquet(spine_path(workdir))
    version = write_feature_table(bench_store(workdir), bench_spec(), features, metadata={"featurelake.actor": "bench"})
    data = {
        "feature_rows": features.height,
        "spine_rows": spine.height,
        "entities": entities,
        "unknown_entities_in_spine_rows": int(is_unknown.sum()),
        "days": DAYS,
        "delta_version": version,
        "data_files": len(list(Path(table_uri(workdir)).rglob("*.parquet"))),
        "data_bytes": sum(p.stat().st_size for p in Path(table_uri(workdir)).rglob("*.parquet")),
        "generate_seconds": round(time.perf_counter() - started, 1),
    }
    stamp.write_text(json.dumps({"params": params, "data": data}, indent=2))
    return data


# --------------------------------------------------------------------------------------------
# Engines. Each ``prepare_*`` loads what its timed call needs (untimed) and returns that call;
# each ``*_result`` turns the engine's output into (row_id, features) for the comparison.
# --------------------------------------------------------------------------------------------


def read_delta_arrow(workdir: Path) -> Any:
    """How the baselines read the feature table: deltalake to a pyarrow table, the needed columns only."""
    from deltalake import DeltaTable

    return DeltaTable(table_uri(workdir)).to_pyarrow_table(columns=[KEY, EVENT_TIME, *FEATURES])


def prepare_featurelake(workdir: Path, mode: str) -> Callable[[], Any]:
    """Join only: ``join_as_of`` on featurelake's day-ordered read. End to end: ``get_training_set``.

    The join-only input is read exactly as ``get_training_set`` reads it (every day is reachable
    from this spine, so no partition is pruned), so the two columns differ by the read alone.
    """
    import polars as pl

    from featurelake.core.pointintime import join_as_of
    from featurelake.featurestore import FeatureStore
    from featurelake.io.feature_tables import read_feature_table

    store, spec = bench_store(workdir), bench_spec()
    spine = pl.read_parquet(spine_path(workdir))
    if mode == "e2e":
        feature_store = FeatureStore(store, [spec])
        return lambda: feature_store.get_training_set(spine, [FEATURE_REF], spine_time=SPINE_TIME).frame
    table = read_feature_table(store, spec, columns=list(FEATURES)).frame
    return lambda: join_as_of(
        spine,
        table,
        keys=spec.entity_keys,
        spine_time=SPINE_TIME,
        feature_time=spec.event_time,
        ttl=spec.ttl,
        columns={name: name for name in FEATURES},
    )


def prepare_polars(workdir: Path, mode: str) -> Callable[[], Any]:
    """Bare polars: sort both sides by time, then ``join_asof`` by entity with the TTL as tolerance."""
    import warnings

    import polars as pl

    # With ``by``, polars cannot verify sortedness and warns on every call; the sort makes it so.
    warnings.filterwarnings("ignore", message=".*[Ss]ortedness.*")
    spine = pl.read_parquet(spine_path(workdir))

    def join(features: pl.DataFrame) -> pl.DataFrame:
        return spine.sort(SPINE_TIME).join_asof(
            features.sort(EVENT_TIME),
            left_on=SPINE_TIME,
            right_on=EVENT_TIME,
            by=KEY,
            strategy="backward",
            tolerance=TTL,
        )

    if mode == "e2e":
        return lambda: join(pl.DataFrame(pl.from_arrow(read_delta_arrow(workdir))))
    features = pl.DataFrame(pl.from_arrow(read_delta_arrow(workdir)))
    return lambda: join(features)


def prepare_pandas(workdir: Path, mode: str) -> Callable[[], Any]:
    """pandas: sort both sides by time, then ``merge_asof`` by entity with the TTL as tolerance."""
    import pandas as pd
    import pyarrow.parquet as pq

    spine = pq.read_table(spine_path(workdir)).to_pandas()

    def join(features: pd.DataFrame) -> pd.DataFrame:
        return pd.merge_asof(
            spine.sort_values(SPINE_TIME),
            features.sort_values(EVENT_TIME),
            left_on=SPINE_TIME,
            right_on=EVENT_TIME,
            by=KEY,
            tolerance=pd.Timedelta(TTL),
            direction="backward",
        )

    if mode == "e2e":
        return lambda: join(read_delta_arrow(workdir).to_pandas())
    features = read_delta_arrow(workdir).to_pandas()
    return lambda: join(features)


def duckdb_sql(spine: str, features: str) -> str:
    """ASOF LEFT JOIN on entity and time, then null the features of matches older than the TTL.

    DuckDB's ASOF JOIN has no tolerance, so the TTL is a CASE on the matched row's time; the
    interval is in microseconds so that no time zone or calendar arithmetic is involved.
    """
    ttl_us = int(TTL.total_seconds()) * 1_000_000
    fresh = f"f.{EVENT_TIME} >= s.{SPINE_TIME} - to_microseconds({ttl_us})"
    values = ",\n  ".join(f"CASE WHEN {fresh} THEN f.{name} END AS {name}" for name in FEATURES)
    return (
        f"SELECT s.*,\n  {values}\n"
        f"FROM {spine} AS s ASOF LEFT JOIN {features} AS f\n"
        f"  ON s.{KEY} = f.{KEY} AND s.{SPINE_TIME} >= f.{EVENT_TIME}"
    )


def prepare_duckdb(workdir: Path, mode: str) -> Callable[[], Any]:
    """DuckDB scanning Arrow tables in place: the spine's, and the feature table's Delta read.

    Scanning registered Arrow tables (zero copy) measured slightly faster here than copying them
    into DuckDB's own in-memory tables first, and keeps one copy of the data, so it is DuckDB's
    best case in both columns; end to end differs from join only by the Delta read alone.
    Results are fetched as a pyarrow table: materialised in memory, like the other engines'.
    """
    import duckdb
    import pyarrow.parquet as pq

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("spine", pq.read_table(spine_path(workdir)))
    sql = duckdb_sql("spine", "features")
    if mode == "e2e":

        def end_to_end() -> Any:
            connection.register("features", read_delta_arrow(workdir))
            try:
                return connection.sql(sql).to_arrow_table()
            finally:
                connection.unregister("features")

        return end_to_end
    connection.register("features", read_delta_arrow(workdir))
    return lambda: connection.sql(sql).to_arrow_table()


PREPARE: dict[str, Callable[[Path, str], Callable[[], Any]]] = {
    "featurelake": prepare_featurelake,
    "polars": prepare_polars,
    "pandas": prepare_pandas,
    "duckdb": prepare_duckdb,
}


def comparable(engine: str, result: Any) -> Any:
    """(row_id, features) sorted by row id, nulls as nulls, whatever the engine returned."""
    import polars as pl

    if engine == "pandas":
        frame = pl.from_pandas(result[[ROW_ID, *FEATURES]], nan_to_null=True)
    elif engine == "duckdb":
        frame = pl.DataFrame(pl.from_arrow(result.select([ROW_ID, *FEATURES])))
    else:
        frame = result.select(ROW_ID, *FEATURES)
    return frame.sort(ROW_ID)


# --------------------------------------------------------------------------------------------
# Child: one engine, one mode, in a fresh process.
# --------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``, not ``ru_maxrss``: Linux carries the
    parent's high-water mark across fork + exec into the child's ``ru_maxrss``, so every child
    would report at least the parent's peak (the data generator's). ``VmHWM`` belongs to the
    child's own address space, which exec creates afresh.
    """
    peak = _proc_status_kib("VmHWM")
    if peak is not None:
        return peak / 2**10
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 2**10


def current_rss_mib() -> float | None:
    """This process's resident set size now, in MiB (Linux only)."""
    rss = _proc_status_kib("VmRSS")
    return None if rss is None else rss / 2**10


def _proc_status_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def reset_peak_rss() -> bool:
    """Restart the peak-RSS count from the current RSS, so that it covers the timed runs only.

    Loading can briefly hold two copies of an input (Arrow and pandas, say); what matters is the
    memory the join needs with its inputs resident. Linux only (``/proc/self/clear_refs``).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def warm_imports() -> None:
    """Import the Delta/Arrow readers every engine uses, so no timed call pays a module import.

    deltalake imports ``pyarrow.dataset`` lazily on the first read, which costs over a second;
    that is start-up, not reading or joining.
    """
    import deltalake
    import pyarrow.dataset

    del deltalake, pyarrow.dataset


def run_child(engine: str, mode: str, workdir: Path, runs: int) -> None:
    """Load inputs (untimed), time ``runs`` calls, record peak RSS, save the last output for checking.

    The previous result is dropped before each call so that two results never coexist, and the
    garbage collector runs between calls rather than inside them.
    """
    label = f"[{engine} {MODE_TITLES[mode]}]"
    load_avg_start = os.getloadavg()
    started = time.perf_counter()
    warm_imports()
    call = PREPARE[engine](workdir, mode)
    load_seconds = time.perf_counter() - started
    gc.collect()
    peak_after_load = peak_rss_mib()
    peak_reset = reset_peak_rss()
    rss_before_runs = current_rss_mib()
    print(
        f"{label} inputs loaded in {load_seconds:.2f} s (peak RSS while loading {peak_after_load:.0f} MiB, "
        f"resident now {rss_before_runs or 0:.0f} MiB)",
        flush=True,
    )
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    result = None
    for run in range(1, runs + 1):
        result = None  # never hold two results
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = call()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
        print(f"{label} run {run}/{runs}: {seconds[-1]:.3f} s (CPU {cpu_seconds[-1]:.2f} s)", flush=True)
    peak = peak_rss_mib()
    comparable(engine, result).write_parquet(workdir / "out" / f"{engine}-{mode}.parquet")
    record = {
        "engine": engine,
        "mode": mode,
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "cpu_seconds": cpu_seconds,  # all threads: less sensitive than wall time to other load
        "median_cpu_seconds": statistics.median(cpu_seconds),
        "load_seconds": load_seconds,
        "peak_rss_mib_while_loading": peak_after_load,  # includes transient copies made while loading
        "rss_mib_before_runs": rss_before_runs,  # inputs resident
        "peak_rss_mib": peak,  # during the timed runs when peak_rss_reset, else since the start
        "peak_rss_reset": peak_reset,
        "load_avg_start": load_avg_start,
        "load_avg_end": os.getloadavg(),
    }
    (workdir / "out" / f"{engine}-{mode}.json").write_text(json.dumps(record, indent=2))


def spawn_child(engine: str, mode: str, workdir: Path, runs: int) -> dict[str, Any]:
    """Run one engine and mode in a fresh interpreter (this script, hidden ``--child`` flag)."""
    command = [sys.executable, __file__, "--child", engine, mode, "--workdir", str(workdir), "--runs", str(runs)]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{engine} ({MODE_TITLES[mode]}) failed with exit code {completed.returncode}")
    return dict(json.loads((workdir / "out" / f"{engine}-{mode}.json").read_text()))


# --------------------------------------------------------------------------------------------
# Verification: every output equals every other, and a brute-force reference on a sample.
# --------------------------------------------------------------------------------------------


def brute_force_reference(spine: Any, features: Any) -> Any:
    """The definition, evaluated naively for some spine rows: latest event in [ts - TTL, ts], else nulls.

    Independent of every engine's ASOF machinery, so that four engines agreeing on a wrong
    answer (say, an exclusive tolerance) would still fail.
    """
    import polars as pl

    candidates = (
        spine.join(features, on=KEY, how="inner")
        .filter(pl.col(EVENT_TIME) <= pl.col(SPINE_TIME), pl.col(EVENT_TIME) >= pl.col(SPINE_TIME) - TTL)
        .sort(ROW_ID, EVENT_TIME)
        .group_by(ROW_ID, maintain_order=True)
        .last()
    )
    return spine.select(ROW_ID).join(candidates.select(ROW_ID, *FEATURES), on=ROW_ID, how="left").sort(ROW_ID)


def verify(workdir: Path, outputs: list[tuple[str, str]], spine_rows: int) -> dict[str, Any]:
    """Fail loudly unless every (engine, mode) output has one row per spine row and the same values.

    Values are compared exactly (they are copies of stored floats, never recomputed) with null
    equal to null; the first output is also checked against the brute-force reference.
    """
    import numpy as np
    import polars as pl

    frames = {(e, m): pl.read_parquet(workdir / "out" / f"{e}-{m}.parquet") for e, m in outputs}
    (first_key, reference) = next(iter(frames.items()))
    expected_ids = pl.Series(ROW_ID, np.arange(spine_rows, dtype=np.int64))
    problems = []
    for (engine, mode), frame in frames.items():
        if frame.height != spine_rows or not frame[ROW_ID].equals(expected_ids):
            problems.append(f"{engine} ({MODE_TITLES[mode]}): {frame.height} rows, expected one per spine row")
            continue
        for name in FEATURES:
            differ = ~frame[name].eq_missing(reference[name])
            if differ.any():
                sample = frame.filter(differ).head(3)[ROW_ID].to_list()
                problems.append(
                    f"{engine} ({MODE_TITLES[mode]}) and {first_key[0]} ({MODE_TITLES[first_key[1]]}) differ "
                    f"on {name} in {int(differ.sum())} rows, e.g. row_id {sample}"
                )
    spine = pl.read_parquet(spine_path(workdir)).sort(ROW_ID)
    features = pl.DataFrame(pl.from_arrow(read_delta_arrow(workdir)))
    rng = np.random.default_rng(SEED + 1)
    sample = pl.Series(ROW_ID, rng.choice(spine_rows, size=min(REFERENCE_SAMPLE, spine_rows), replace=False))
    brute = brute_force_reference(spine.filter(pl.col(ROW_ID).is_in(sample.implode())), features)
    picked = reference.filter(pl.col(ROW_ID).is_in(sample.implode()))
    for name in FEATURES:
        differ = ~picked[name].eq_missing(brute[name])
        if differ.any():
            problems.append(f"{first_key[0]} differs from the brute-force reference on {name}: {int(differ.sum())}")
    if problems:
        raise SystemExit("RESULTS DISAGREE:\n  " + "\n  ".join(problems))
    missing = reference[FEATURES[0]].is_null()
    unknown = ~spine[KEY].is_in(features[KEY].unique().implode())
    return {
        "outputs_compared": [f"{e} ({MODE_TITLES[m]})" for e, m in outputs],
        "rows": spine_rows,
        "rows_without_features": int(missing.sum()),
        "rows_without_features_unknown_entity": int((missing & unknown).sum()),
        "rows_without_features_no_event_within_ttl": int((missing & ~unknown).sum()),
        "brute_force_sample_rows": sample.len(),
        "brute_force_sample_rows_without_features": int(brute[FEATURES[0]].null_count()),
    }


# --------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    libraries = ["polars", "deltalake", "pyarrow", "pandas", "duckdb", "numpy", "featurelake"]
    memory = None
    if Path("/proc/meminfo").exists():
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = f"{int(first.split()[1]) / 2**20:.1f} GiB"
    return {
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in libraries},
    }


def code_revision() -> str:
    """The featurelake commit measured, marked dirty when src/ differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' (src/ modified)' if changed else ''}"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def markdown_table(records: dict[tuple[str, str], dict[str, Any]], engines: list[str]) -> str:
    """One row per engine: medians, ratios to DuckDB (engine / DuckDB; below 1 is faster), peak RSS."""

    def cell(engine: str, mode: str, field: str) -> str:
        record = records.get((engine, mode))
        base = records.get((BASELINE, mode))
        if record is None:
            return "–"
        if field == "median":
            return f"{record['median_seconds']:.2f}"
        if field == "ratio":
            return f"{record['median_seconds'] / base['median_seconds']:.2f}×" if base else "n/a"
        return f"{record['peak_rss_mib']:.0f}"

    lines = [
        "| engine | join only, median (s) | vs DuckDB | read + join, median (s) | vs DuckDB "
        "| peak RSS join only (MiB) | peak RSS read + join (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for engine in engines:
        cells = [
            cell(engine, "join", "median"),
            cell(engine, "join", "ratio"),
            cell(engine, "e2e", "median"),
            cell(engine, "e2e", "ratio"),
            cell(engine, "join", "rss"),
            cell(engine, "e2e", "rss"),
        ]
        lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs_table(records: dict[tuple[str, str], dict[str, Any]]) -> str:
    """Every individual timing, to show the spread behind each median."""
    lines = [
        "| engine | mode | runs (s) | min (s) | median CPU (s) | inputs load (s) | RSS with inputs (MiB) "
        "| load avg start → end |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for (engine, mode), record in records.items():
        runs = ", ".join(f"{s:.2f}" for s in record["seconds"])
        load = f"{record['load_avg_start'][0]:.2f} → {record['load_avg_end'][0]:.2f}"
        resident = record["rss_mib_before_runs"]
        lines.append(
            f"| {engine} | {MODE_TITLES[mode]} | {runs} | {record['min_seconds']:.2f} "
            f"| {record['median_cpu_seconds']:.2f} | {record['load_seconds']:.2f} "
            f"| {'–' if resident is None else f'{resident:.0f}'} | {load} |"
        )
    return "\n".join(lines)


def write_report(report: dict[str, Any], table: str, runs: str) -> tuple[Path, Path]:
    """Save the results as JSON and markdown under bench/results/, named by UTC time."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"training_set-{report['started_at'].replace(':', '').replace('-', '')}"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    m, d, v = report["machine"], report["data"], report["verification"]
    libraries = ", ".join(f"{k} {value}" for k, value in m["libraries"].items() if value)
    text = f"""# Training set benchmark, {report["started_at"]}

`{report["command"]}` (featurelake {report["code_revision"]})

Spine {d["spine_rows"]:,} rows ({d["unknown_entities_in_spine_rows"]:,} of unknown entities) against \
{d["feature_rows"]:,} feature rows ({d["entities"]:,} entities, {d["days"]} days, {len(FEATURES)} float features, \
TTL {TTL.days} days; {d["data_files"]} Parquet files, {d["data_bytes"] / 2**20:.0f} MiB). \
Median of {report["runs"]} runs per engine and mode, each in a fresh process; ratios are engine time / DuckDB time \
(below 1 = faster than DuckDB).

{table}

- Peak RSS: the child process's high-water mark (`VmHWM`) during the timed runs, inputs included.
- Verification: all {len(v["outputs_compared"])} outputs agree ({v["rows"]:,} rows each); \
{v["rows_without_features"]:,} rows have no features \
({v["rows_without_features_unknown_entity"]:,} entity not in the table, \
{v["rows_without_features_no_event_within_ttl"]:,} no event within the TTL); \
{v["brute_force_sample_rows"]:,} sampled rows match a brute-force evaluation of the definition.
- Machine: {m["cpu_count"]} CPUs ({m["cpu"]}), {m["memory"]}, {m["platform"]}, Python {m["python"]}; {libraries}.
- Load average (1 min): {report["load_avg_before"][0]:.2f} before the run, {report["load_avg_after"][0]:.2f} after \
(per engine below); other processes were competing for the {m["cpu_count"]} CPUs when it is well above 0.

Every run:

{runs}
"""
    md_path.write_text(text)
    return json_path, md_path


# --------------------------------------------------------------------------------------------
# Entry point.
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-rows", type=int, default=10_000_000, help="rows in the feature table")
    parser.add_argument("--spine-rows", type=int, default=1_000_000, help="rows in the spine")
    parser.add_argument("--entities", type=int, default=100_000, help="distinct entities in the feature table")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per engine and mode (median reported)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the data here (reused if parameters match); default: temp dir"
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help=f"comma-separated subset of {','.join(ENGINES)} (ratios need {BASELINE})",
    )
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown or not args.engines:
        parser.error(f"unknown engine(s) {unknown}; choose from {list(ENGINES)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args.child[0], args.child[1], args.workdir, args.runs)
        return
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="featurelake-bench-")) if temporary else args.workdir.resolve()
    try:
        benchmark(args, workdir)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def benchmark(args: argparse.Namespace, workdir: Path) -> None:
    """Generate, run every engine and mode in its own child, verify, report."""
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    revision = code_revision()
    load_before = os.getloadavg()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / "out", ignore_errors=True)
    (workdir / "out").mkdir()
    params = {"feature_rows": args.feature_rows, "spine_rows": args.spine_rows, "entities": args.entities}
    print(f"generating data in {workdir}: {params}", flush=True)
    data = generate(workdir, params)
    print(f"data ready: {data}", flush=True)
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for engine in args.engines:
        for mode in MODES:
            print(f"== {engine}: {MODE_TITLES[mode]}, {args.runs} runs, fresh process", flush=True)
            records[(engine, mode)] = spawn_child(engine, mode, workdir, args.runs)
    print("verifying outputs", flush=True)
    verification = verify(workdir, list(records), data["spine_rows"])
    table, runs = markdown_table(records, args.engines), runs_table(records)
    report = {
        "started_at": started_at,
        "command": " ".join(["python", "bench/training_set.py", *sys.argv[1:]]),
        "runs": args.runs,
        "code_revision": revision,
        "params": params,
        "data": data,
        "machine": machine(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "results": [records[key] for key in records],
        "verification": verification,
    }
    json_path, md_path = write_report(report, table, runs)
    print(f"\n{table}\n\n{runs}\n\nall outputs agree; results in {json_path} and {md_path}", flush=True)


if __name__ == "__main__":
    main()

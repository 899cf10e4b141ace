"""Benchmark: online serving and materialization, featurelake against Feast 0.67 on the same DynamoDB endpoint.

    .venv/bin/python bench/online.py                 # the 10M-row publish (≈198k customers)
    .venv/bin/python bench/online.py --size 500k     # the smoke size (≈10k customers)

One run starts one moto server (S3 and DynamoDB on one URL; its own process, so its CPU and
memory are not an engine's) and then, each engine in its own fresh child process:

* featurelake: ``materialize`` (full mode) of the published ``customer_txn:v1`` table into
  DynamoDB (rows/s over the published rows, items/s over the items written), then the in-process
  latency of ``FeatureStore.get_online_features`` for 1 entity and for 100 entities × all features,
  then the same requests over HTTP through ``featurelake serve-features`` (a separate process,
  one keep-alive connection);
* raw boto3 against the same table: ``GetItem`` and ``BatchGetItem`` of 100 keys, what moto's
  emulation itself costs (the floor under any client of this endpoint);
* Feast 0.67 in its own environment (``bench/feast``, see ``bench/online_feast.py``): its
  DynamoDB online store on the same moto endpoint (``materialize`` from the same feature rows,
  then ``get_online_features``), and its SQLite online store as a second anchor. Redis runs only
  when ``redis-server`` is installed (it is not, here: the report says so).

Requests are the same for every engine (drawn once, seeded): known customers, ``--requests``
timed after ``--warmup`` untimed ones; the request time is just after the newest event, so every
value is within the TTL. Medians and p99 in milliseconds, the load average at each child's start
and end. Results: ``bench/results/online-<size>-<UTC>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a directory of scripts, not a package
from generate import DAYS, DEFAULT_WORKDIR, SEED
from harness import ROOT, code_revision, machine, machine_line, markdown_table, spawn, utc_now, write_results

THIS = str(Path(__file__).resolve())
FEAST_CHILD = str(Path(__file__).with_name("online_feast.py"))
FEAST_PROJECT = "bench/feast"
REF, KEY, TIME, NAME = "customer_txn:v1", "customer_id", "event_time", "customer_txn"
FEATURES = tuple(
    f"amount_{stat}_{window}" for window in ("1h", "24h", "7d") for stat in ("count", "sum", "mean", "max")
)
BATCH = 100
REQUEST_SEED = 20_261_204
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
GOAL_ONE_ENTITY_P99_MS = 10.0
ENGINES = ("featurelake", "boto3", "feast-dynamodb", "feast-sqlite")


# --------------------------------------------------------------------------------------------
# Shared by every child (standard library only): latency of a call over prepared requests.
# --------------------------------------------------------------------------------------------


def latencies(call: Callable[[Any], Any], requests: list[Any], warmup: int) -> dict[str, Any]:
    """Time ``call(request)`` for each request after ``warmup`` untimed ones; milliseconds."""
    for request in requests[:warmup]:
        call(request)
    samples = []
    for request in requests[warmup:]:
        started = time.perf_counter()
        call(request)
        samples.append((time.perf_counter() - started) * 1000)
    return summarize(samples)


def summarize(samples: list[float]) -> dict[str, Any]:
    """Median, p99, mean, min, max of millisecond samples (p99: the inclusive 99th percentile)."""
    ordered = sorted(samples)
    return {
        "requests": len(ordered),
        "median_ms": statistics.median(ordered),
        "p99_ms": statistics.quantiles(ordered, n=100, method="inclusive")[98],
        "mean_ms": statistics.fmean(ordered),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


def child_record(kind: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a child's measurements with the load average at its start and end."""
    load_start = os.getloadavg()
    record = body()
    return {"engine": kind, **record, "load_avg_start": load_start, "load_avg_end": os.getloadavg()}


def requests_of(out_dir: Path) -> dict[str, Any]:
    """The shared requests (see :func:`draw_requests`)."""
    return dict(json.loads((out_dir / "requests.json").read_text()))


# --------------------------------------------------------------------------------------------
# Children in featurelake's environment.
# --------------------------------------------------------------------------------------------


def draw_requests(data_dir: Path, out_dir: Path, count: int) -> None:
    """Known customers for every request (seeded), the request time, and the published row count."""
    import numpy as np
    import polars as pl

    rows = pl.scan_parquet(data_dir / "features.parquet").select(KEY, TIME)
    stats = rows.select(pl.col(KEY).unique().sort().alias("keys")).collect()
    newest = rows.select(pl.col(TIME).max()).collect().item()
    height = rows.select(pl.len()).collect().item()
    keys = stats["keys"].to_list()
    rng = np.random.default_rng(REQUEST_SEED)
    single = [keys[i] for i in rng.integers(0, len(keys), count)]
    batches = [[keys[i] for i in rng.choice(len(keys), BATCH, replace=False)] for _ in range(count)]
    at = newest.replace(microsecond=0).timestamp() + 1
    payload = {"single": single, "batches": batches, "at_epoch_s": at, "rows": height, "entities": len(keys)}
    (out_dir / "requests.json").write_text(json.dumps(payload))


def featurelake_child(args: argparse.Namespace) -> dict[str, Any]:
    """Materialize (timed once), then in-process and HTTP latency over the shared requests."""
    import online_fl

    return online_fl.run(args.data_dir, args.out_dir, args.endpoint, requests_of(args.out_dir), args.warmup)


def boto3_child(args: argparse.Namespace) -> dict[str, Any]:
    """Raw BatchWriteItem, GetItem and BatchGetItem of the same keys on a table of its own: moto's own cost."""
    import online_fl

    return online_fl.raw_boto3(args.data_dir, args.endpoint, requests_of(args.out_dir), args.warmup)


CHILDREN = {"requests": None, "featurelake": featurelake_child, "boto3": boto3_child}


def child(args: argparse.Namespace) -> None:
    """One child's work; its record goes to ``<out>/<kind>.json``."""
    if args.child == "requests":
        draw_requests(args.data_dir, args.out_dir, args.requests + args.warmup)
        return
    record = child_record(args.child, lambda: CHILDREN[args.child](args))
    (args.out_dir / f"{args.child}.json").write_text(json.dumps(record, indent=2, default=str))


# --------------------------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------------------------


def main_child(kind: str, args: argparse.Namespace, endpoint: str) -> None:
    """Start one child in featurelake's environment."""
    flags = ["--data-dir", str(args.data_dir), "--out-dir", str(args.out_dir), "--endpoint", endpoint]
    flags += ["--requests", str(args.requests), "--warmup", str(args.warmup)]
    spawn([sys.executable, THIS, "--child", kind, *flags], kind, {**os.environ, **AWS_ENV})


def feast_child(store: str, args: argparse.Namespace, endpoint: str) -> dict[str, Any]:
    """Start one Feast child in Feast's environment; its record, or why it was skipped."""
    from run import child_env, feast_environment, uv

    versions, problem = feast_environment()
    if problem:
        return {"skipped": problem}
    command = [uv(), "run", "--quiet", "--frozen", "--project", FEAST_PROJECT, "python", FEAST_CHILD]
    command += ["--store", store, "--data-dir", str(args.data_dir), "--out-dir", str(args.out_dir)]
    command += ["--endpoint", endpoint, "--warmup", str(args.warmup)]
    print(f"== feast {store}: fresh process in Feast's environment", flush=True)
    spawn(command, f"feast {store}", {**child_env("feast"), **AWS_ENV})
    record = dict(json.loads((args.out_dir / f"feast-{store}.json").read_text()))
    record["versions"] = versions
    return record


def benchmark(args: argparse.Namespace) -> None:
    """Moto, the shared requests, every engine in its own child, the report."""
    from shapes_data import start_moto

    started_at, load_before, started = utc_now(), os.getloadavg(), time.perf_counter()
    shutil.rmtree(args.out_dir, ignore_errors=True)
    args.out_dir.mkdir(parents=True)
    endpoint = start_moto()
    print(f"== moto server on {endpoint}", flush=True)
    main_child("requests", args, endpoint)
    records: dict[str, Any] = {}
    for kind in ("boto3", "featurelake"):
        if kind not in args.engines:
            records[kind] = {"skipped": "not chosen (--engines)"}
            continue
        print(f"== {kind}: fresh process", flush=True)
        main_child(kind, args, endpoint)
        records[kind] = json.loads((args.out_dir / f"{kind}.json").read_text())
    for store in ("dynamodb", "sqlite"):
        chosen = f"feast-{store}" in args.engines
        records[f"feast-{store}"] = (
            feast_child(store, args, endpoint) if chosen else {"skipped": "not chosen (--engines)"}
        )
    redis = shutil.which("redis-server")
    records["feast-redis"] = {"skipped": "redis-server is not installed here"} if not redis else {"skipped": "not run"}
    import online_report

    report = {
        "started_at": started_at,
        "command": " ".join(["python", "bench/online.py", *sys.argv[1:]]),
        "code_revision": code_revision(),
        "data_dir": str(args.data_dir),
        "published_rows": requests_of(args.out_dir)["rows"],
        "entities": requests_of(args.out_dir)["entities"],
        "requests": args.requests,
        "warmup": args.warmup,
        "machine": machine(("featurelake", "polars", "boto3", "moto", "fastapi", "uvicorn")),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "total_seconds": round(time.perf_counter() - started, 1),
        "engines": records,
    }
    report["verdict"] = online_report.verdict(records)
    report["cross_check"] = online_report.cross_check(args.out_dir, list(FEATURES))
    markdown = online_report.markdown(report, machine_line, markdown_table)
    paths = write_results(f"online-{args.size}", started_at, report, markdown)
    print(f"\n{markdown}\nresults in {paths[0]} and {paths[1]}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10M", help="the bench data set: 10M, 2M or 500k (made by bench/run.py)")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per measurement")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests before them")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--engines", default=",".join(ENGINES), help="a subset of " + ",".join(ENGINES))
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=("requests", "featurelake", "boto3"), help=hidden)
    parser.add_argument("--data-dir", type=Path, help=hidden)
    parser.add_argument("--out-dir", type=Path, help=hidden)
    parser.add_argument("--endpoint", help=hidden)
    args = parser.parse_args(argv)
    if args.child:
        return args
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(args.engines) - set(ENGINES):
        parser.error(f"unknown engine(s) {sorted(set(args.engines) - set(ENGINES))}; choose from {ENGINES}")
    args.data_dir = (args.workdir / f"{args.size}-d{DAYS}-s{SEED}").resolve()
    if not (args.data_dir / "features.parquet").exists() or not (args.data_dir / "lake" / "features").exists():
        parser.error(
            f"{args.data_dir} lacks features.parquet or the published table: run bench/run.py --rows {args.size}"
        )
    args.out_dir = args.data_dir / "out" / "online"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
    else:
        os.chdir(ROOT)
        benchmark(args)


if __name__ == "__main__":
    main()

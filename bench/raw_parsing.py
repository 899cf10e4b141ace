"""Benchmark: parsing raw objects, featurelake's checked parsers against polars' own readers.

featurelake parses CSV with the ``csv`` module and NDJSON with ``json`` so that every kind of bad
file gets a specific reason and every value reaches the contract as text (see ``core/raw_formats.py``).
This measures what that costs against the baseline a reader would reach for first: ``pl.read_csv``
(all columns as text) and ``pl.read_ndjson``. Both sides then apply the same contract, so the
numbers are "bytes in, typed and checked rows out". Each measurement runs in a fresh child
process, so its peak RSS is its own; the table reports medians of several runs and the ratio to
the baseline measured in the same run.

    make bench-parsing                       # 200k rows, 5 runs
    python bench/raw_parsing.py --rows 500000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a directory of scripts, not a package
from harness import peak_rss_mib

ENGINES = ("featurelake", "polars")
FORMATS = ("csv", "ndjson")


def make_inputs(rows: int, directory: Path) -> dict[str, Path]:
    """The synthetic transactions as one CSV and one NDJSON file of ``rows`` rows (with PII columns)."""
    import polars as pl

    from featurelake.local import synthetic

    data = synthetic.generate(customers=max(rows // 24, 10))
    frame = pl.concat([data.transactions] * (rows // data.transactions.height + 1)).head(rows)
    frame = frame.with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    paths = {"csv": directory / "part.csv", "ndjson": directory / "part.ndjson"}
    frame.write_csv(paths["csv"])
    frame.write_ndjson(paths["ndjson"])
    return paths


def child(engine: str, fmt: str, path: Path) -> dict[str, float]:
    """Parse one file and apply the contract; returns seconds, rows accepted and peak RSS (MiB)."""
    import io

    import polars as pl

    from featurelake.core.contracts import apply_contract
    from featurelake.core.raw_formats import parse_raw_bytes
    from features.sources import TRANSACTIONS

    data = path.read_bytes()
    started = time.perf_counter()
    if engine == "featurelake":
        raw = parse_raw_bytes(path.name, data)
    elif fmt == "csv":
        raw = pl.read_csv(io.BytesIO(data), infer_schema=False)
    else:
        raw = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    split = apply_contract(TRANSACTIONS, raw)
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()  # VmHWM: ru_maxrss would carry the parent's peak over into this child
    return {"seconds": seconds, "rows": float(split.accepted.height), "peak_mib": peak}


def measure(engine: str, fmt: str, path: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", engine, fmt, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "FORMAT", "PATH"))
    args = parser.parse_args()
    if args.child:
        engine, fmt, path = args.child
        print(json.dumps(child(engine, fmt, Path(path))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_inputs(args.rows, Path(tmp))
        print(f"raw parsing + contract, {args.rows:,} rows, median of {args.runs} runs (fresh process each)")
        print(f"{'format':<8}{'engine':<13}{'seconds':>9}{'× polars':>10}{'rows accepted':>15}{'peak MiB':>10}")
        for fmt in FORMATS:
            runs = {e: [measure(e, fmt, paths[fmt]) for _ in range(args.runs)] for e in ENGINES}
            medians = {e: statistics.median(r["seconds"] for r in runs[e]) for e in ENGINES}
            for engine in ENGINES:
                rows = {r["rows"] for r in runs[engine]}
                peak = statistics.median(r["peak_mib"] for r in runs[engine])
                ratio = medians[engine] / medians["polars"]
                print(f"{fmt:<8}{engine:<13}{medians[engine]:>9.2f}{ratio:>10.2f}{int(min(rows)):>15,}{peak:>10.0f}")
            accepted = {e: {r["rows"] for r in runs[e]} for e in ENGINES}
            if accepted["featurelake"] != accepted["polars"]:
                raise SystemExit(f"{fmt}: engines accepted different row counts {accepted}")


if __name__ == "__main__":
    main()

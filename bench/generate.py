"""A seeded generator of card transactions for the benchmarks: 1M, 10M or 50M rows, or any count.

    python bench/generate.py --rows 10M [--raw] [--workdir .featurelake/bench]

What it writes, once per parameter set, under ``<workdir>/<rows>-d<days>-s<seed>/``:

* ``lake/bronze/transactions``: a bronze-like Delta table, what the feature build reads. Rows
  look as ingestion leaves them: the ``transactions`` contract's columns with its PII policy
  applied (e-mail HMAC-hashed, card number masked, IP address dropped) and the ingest stamps
  ``_source_key``, ``_source_etag``, ``_ingested_at``; one append per group of days;
* ``raw/transactions/day=<date>/part-0.parquet`` with ``--raw``: the same rows as a producer
  would land them (one object per day, every contract column, PII in the clear), for an
  ingest stage.

Shape: ``rows // 50`` customers and ``rows // 2000`` merchants (at least 100 each), each with a
log-normal activity weight (customers' capped at 50× the median), so a few are very busy and many
are sparse; amounts log-normal
(median ≈ 27, rounded to cents, below the contract's maximum); event times uniform over
``days`` days from 2025-01-01 UTC, time-zone-aware, unique per customer (so every engine
agrees on which rows share a window edge); ``txn_id`` unique. Generation goes day by day, so
memory stays at one group of days whatever the size (peak RSS ≈ 1.8 GiB at 5M rows, and about
the same at 50M: only the per-customer table grows).

The data is reused when a directory with the same parameters is complete (``transactions.json``
is written last); an interrupted generation is started again from scratch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a directory of scripts, not a package
from harness import ROOT

SEED = 20_240_601
DAYS = 90
START = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT_WORKDIR = ROOT / ".featurelake" / "bench"
STAMP = "transactions.json"
BRONZE = "bronze/transactions"  # featurelake.core.naming.bronze_path("transactions")
ROWS_PER_APPEND = 2_500_000
PII_KEY = b"featurelake-bench-pii-key-0123456789abcdef"  # a fixed 32+ byte key: hashes are reproducible
COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "GB", "US", "PL", "SE", "CH")
CURRENCY = {"GB": "GBP", "US": "USD", "PL": "PLN", "SE": "SEK", "CH": "CHF"}  # others: EUR
#: The busiest customer is at most this many times as active as the median one (≈ 30 a day at
#: 50 a quarter): a log-normal tail alone occasionally draws one customer with 10 % of all rows.
MAX_ACTIVITY = 50
HOME_SHARE = 0.95  # transactions in the customer's home country
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000}


@dataclass(frozen=True)
class Params:
    """Everything the data depends on; a directory is reused only when these match exactly."""

    rows: int
    days: int = DAYS
    seed: int = SEED
    raw: bool = False

    @property
    def customers(self) -> int:
        return max(100, self.rows // 50)

    @property
    def merchants(self) -> int:
        return max(100, self.rows // 2000)

    def directory(self, workdir: Path) -> Path:
        return workdir / f"{size_label(self.rows)}-d{self.days}-s{self.seed}"

    def identity(self) -> dict[str, Any]:
        """The parameters that shape the rows (``raw`` only adds files: a raw run reuses bronze)."""
        return {"rows": self.rows, "days": self.days, "seed": self.seed}


def parse_rows(text: str) -> int:
    """``1M``, ``10M``, ``50M``, ``2.5M``, ``500k`` or a plain integer (underscores allowed)."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"--rows {text!r}: use 1M, 10M, 50M, 500k or an integer")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    rows = int(float(match.group(1).replace("_", "")) * scale)
    if rows < 1_000:
        raise argparse.ArgumentTypeError(f"--rows {text!r}: at least 1,000 rows")
    return rows


def size_label(rows: int) -> str:
    """``10M`` for 10,000,000, ``250k`` for 250,000, else the integer."""
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)


# --------------------------------------------------------------------------------------------
# Entry point used by the benchmarks.
# --------------------------------------------------------------------------------------------


def ensure_transactions(workdir: Path, params: Params) -> tuple[Path, dict[str, Any]]:
    """The data directory for ``params`` and its description, generating it when missing.

    Returns:
        The directory (``lake/`` holds the bronze table) and the stamp's ``data`` section.
    """
    directory = params.directory(workdir)
    stamp = directory / STAMP
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["params"] == params.identity() and (saved["data"]["raw_objects"] or not params.raw):
            print(f"reusing {params.rows:,} transactions in {directory}", flush=True)
            return directory, dict(saved["data"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    print(f"generating {params.rows:,} transactions in {directory}", flush=True)
    data = generate(directory, params)
    stamp.write_text(json.dumps({"params": params.identity(), "data": data}, indent=2) + "\n")
    return directory, data


def generate(directory: Path, params: Params) -> dict[str, Any]:
    """Write the bronze table (and raw objects) day by day; returns what was written."""
    import numpy as np
    import polars as pl
    from deltalake import write_deltalake

    started = time.perf_counter()
    rng = np.random.default_rng(params.seed)
    customers = customer_table(rng, params.customers)
    customer_weights = rng.lognormal(0.0, 1.2, params.customers)
    customer_weights = np.minimum(customer_weights, MAX_ACTIVITY * np.median(customer_weights))
    merchant_weights = rng.lognormal(0.0, 1.5, params.merchants)
    customer_p, merchant_p = customer_weights / customer_weights.sum(), merchant_weights / merchant_weights.sum()
    uri = str(directory / "lake" / BRONZE)
    pending: list[pl.DataFrame] = []
    written = appends = 0
    for day_index in range(params.days):
        rows = params.rows // params.days + (1 if day_index < params.rows % params.days else 0)
        raw = day_rows(rng, day_index, rows, written, customers, customer_p, merchant_p)
        day = (START + timedelta(days=day_index)).date()
        if params.raw:
            write_raw_object(directory, day, raw)
        pending.append(to_bronze(raw, day))
        written += raw.height
        if sum(f.height for f in pending) >= ROWS_PER_APPEND or day_index == params.days - 1:
            write_deltalake(uri, pl.concat(pending).to_arrow(), mode="append")
            appends, pending = appends + 1, []
            print(f"  {written:,} rows written ({day})", flush=True)
    return {
        "rows": written,
        "customers": params.customers,
        "merchants": params.merchants,
        "days": params.days,
        "start": START.isoformat(),
        "bronze_uri": uri,
        "bronze_commits": appends,
        "bronze_bytes": sum(p.stat().st_size for p in Path(uri).rglob("*.parquet")),
        "raw_objects": params.days if params.raw else 0,
        "generate_seconds": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------------------------
# The rows.
# --------------------------------------------------------------------------------------------


def customer_table(rng: Any, customers: int) -> Any:
    """One row per customer: id, e-mail, card number, IP address and home country (PII in the clear)."""
    import numpy as np
    import polars as pl

    index = pl.int_range(customers, eager=True, dtype=pl.Int64)
    digits = index.cast(pl.String).str.zfill(7)
    card_tail = pl.Series(rng.integers(0, 10**15, customers, dtype=np.int64)).cast(pl.String).str.zfill(15)
    octets = rng.integers(1, 255, (customers, 3))
    return pl.DataFrame(
        {
            "customer_id": "c" + digits,
            "customer_email": "holder." + digits + "@mail.example.org",
            "card_number": "4" + card_tail,  # 16 digits, a Visa-like prefix
            "ip_address": [f"10.{a}.{b}.{c}" for a, b, c in octets.tolist()],
            "home": rng.choice(COUNTRIES, customers),
        }
    )


def day_rows(rng: Any, day_index: int, rows: int, offset: int, customers: Any, customer_p: Any, merchant_p: Any) -> Any:
    """One day's transactions in time order, as a producer would land them (PII in the clear).

    Draws a few more rows than needed and drops repeated (customer, time) pairs, so that the
    day has exactly ``rows`` rows and no customer has two transactions at the same microsecond.
    """
    import numpy as np
    import polars as pl

    drawn = rows + rows // 100 + 10
    day_start_us = int((START + timedelta(days=day_index)).timestamp()) * 1_000_000
    who = rng.choice(customer_p.size, size=drawn, p=customer_p)
    frame = (
        pl.DataFrame(
            {
                "_customer": who,
                "merchant_id": rng.choice(merchant_p.size, size=drawn, p=merchant_p),
                "amount": np.minimum(np.round(rng.lognormal(3.3, 1.0, drawn), 2), 999_999.0),
                "_abroad": rng.random(drawn) >= HOME_SHARE,
                "_foreign": rng.choice(COUNTRIES, drawn),
                "event_time": rng.integers(day_start_us, day_start_us + 86_400_000_000, drawn),
            }
        )
        .unique(["_customer", "event_time"], keep="first", maintain_order=True)
        .head(rows)
        .sort("event_time")
    )
    people = customers[frame["_customer"].to_numpy()]
    country = pl.when(frame["_abroad"]).then(frame["_foreign"]).otherwise(people["home"])
    return frame.select(
        (pl.lit("tx") + pl.int_range(offset, offset + frame.height).cast(pl.String).str.zfill(11)).alias("txn_id"),
        people["customer_id"],
        people["customer_email"],
        people["card_number"],
        people["ip_address"],
        ("m" + pl.col("merchant_id").cast(pl.String).str.zfill(6)).alias("merchant_id"),
        pl.col("amount"),
        pl.lit(None, pl.String).alias("currency"),
        country.alias("country"),
        pl.col("event_time").cast(pl.Datetime("us", "UTC")),
    ).with_columns(pl.col("country").replace_strict(CURRENCY, default="EUR", return_dtype=pl.String).alias("currency"))


def to_bronze(raw: Any, day: date) -> Any:
    """The day's rows as ingestion writes them: contract PII policy applied, ingest stamps added."""
    import polars as pl

    from featurelake.core.pii import protect
    from features.sources import TRANSACTIONS

    key = f"transactions/day={day.isoformat()}/part-0.parquet"
    ingested = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(days=1, hours=1)
    return protect(raw, TRANSACTIONS.pii, PII_KEY).with_columns(
        pl.lit(key).alias("_source_key"),
        pl.lit(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()).alias("_source_etag"),
        pl.lit(ingested, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"),
    )


def write_raw_object(directory: Path, day: date, raw: Any) -> None:
    """The day as one raw parquet object, laid out like the raw bucket (``transactions/day=.../``)."""
    path = directory / "raw" / "transactions" / f"day={day.isoformat()}" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw.write_parquet(path)


# --------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_rows, default=SIZES["10M"], help="1M, 10M, 50M or an integer")
    parser.add_argument("--days", type=int, default=DAYS, help="days the event times span")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--raw", action="store_true", help="also write one raw parquet object per day")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the data is kept and reused")
    args = parser.parse_args(argv)
    directory, data = ensure_transactions(args.workdir.resolve(), Params(args.rows, args.days, args.seed, args.raw))
    print(json.dumps({"directory": str(directory), **data}, indent=2))


if __name__ == "__main__":
    main()

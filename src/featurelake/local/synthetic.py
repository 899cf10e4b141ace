"""A seeded synthetic card-transactions dataset with fraud labels, and its upload as raw objects.

Fraud here is learnable on purpose: compromised cards show short bursts of larger, foreign
transactions, which the trailing-window features can see. A few malformed rows are included
so that the demo shows quarantine at work.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from featurelake.io.aws.raw import list_raw_objects, put_raw_objects
from featurelake.settings import Settings

SOURCES = ("transactions", "fraud_labels")
COUNTRIES = ["DE", "FR", "NL", "ES", "GB", "US"]
CURRENCIES = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "GB": "GBP", "US": "USD"}
Array = np.ndarray[Any, Any]
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
#: The id of the transaction the demo lands after the retrain (see :func:`new_transaction`).
NEW_TRANSACTION_ID = "t9999999"


@dataclass(frozen=True)
class SyntheticData:
    """Transactions and their labels, both with UTC event times."""

    transactions: pl.DataFrame
    labels: pl.DataFrame


def generate(seed: int = 7, customers: int = 600, merchants: int = 80, days: int = 6) -> SyntheticData:
    """Generate normal spending for every customer plus fraud bursts on a few of them."""
    rng = np.random.default_rng(seed)
    normal = _normal_transactions(rng, customers, merchants, days)
    fraud = _fraud_bursts(rng, customers, merchants, days)
    txns = pl.concat([normal, fraud]).sort("event_time")
    txns = txns.with_columns(pl.format("t{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(7)).alias("txn_id"))
    delay = pl.Series(rng.uniform(3_600, 3 * 86_400, txns.height)).cast(pl.Int64) * 1_000_000
    labels = txns.select(
        "txn_id",
        "customer_id",
        "merchant_id",
        "event_time",
        "is_fraud",
        (pl.col("event_time") + pl.duration(microseconds=pl.lit(delay))).alias("labeled_at"),
    )
    return SyntheticData(transactions=txns.drop("is_fraud"), labels=labels)


def _normal_transactions(rng: np.random.Generator, customers: int, merchants: int, days: int) -> pl.DataFrame:
    per_customer = rng.poisson(4.0 * days, customers)
    customer = np.repeat(np.arange(customers), per_customer)
    home = rng.choice(COUNTRIES[:5], customers)[customer]
    offsets = rng.uniform(0, days * 86_400, customer.size)
    return _frame(
        customer,
        rng.integers(0, merchants, customer.size),
        rng.lognormal(3.3, 0.8, customer.size),
        home,
        offsets,
        rng.random(customer.size) < 0.002,
    )


def _fraud_bursts(rng: np.random.Generator, customers: int, merchants: int, days: int) -> pl.DataFrame:
    victims = rng.choice(customers, max(customers // 25, 2), replace=False)
    sizes = rng.integers(4, 11, victims.size)
    customer = np.repeat(victims, sizes)
    burst_start = np.repeat(rng.uniform(0, days * 86_400 - 3_600, victims.size), sizes)
    offsets = burst_start + rng.uniform(0, 3_000, customer.size)
    country = rng.choice(["US", "GB"], customer.size)
    return _frame(
        customer,
        rng.integers(0, merchants, customer.size),
        rng.lognormal(5.0, 0.6, customer.size),
        country,
        offsets,
        np.ones(customer.size, dtype=bool),
    )


def customer_email(customer: int) -> str:
    """A customer's e-mail address: personal data the contract hashes before bronze."""
    return f"holder.{customer:05d}@mail.example.org"


def card_number(customer: int) -> str:
    """A customer's 16-digit card number: personal data the contract masks before bronze."""
    return f"4{(customer * 7_919 + 104_729) % 10**15:015d}"


def _frame(
    customer: Array, merchant: Array, amount: Array, country: Array, offsets: Array, fraud: Array
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [f"c{c:05d}" for c in customer],
            "customer_email": [customer_email(c) for c in customer],
            "card_number": [card_number(c) for c in customer],
            "ip_address": [f"198.51.100.{c % 250 + 1}" for c in customer],
            "merchant_id": [f"m{m:04d}" for m in merchant],
            "amount": np.round(amount, 2),
            "currency": [CURRENCIES[c] for c in country],
            "country": country,
            "event_time": pl.Series(
                [START + dt.timedelta(seconds=float(s)) for s in offsets], dtype=pl.Datetime("us", "UTC")
            ),
            "is_fraud": fraud,
        }
    )


def raw_objects(data: SyntheticData) -> dict[str, bytes]:
    """The dataset as raw objects: one per day, alternating parquet and CSV, plus labels.

    The first CSV day carries two malformed rows (an unparseable amount, a missing customer)
    that ingestion must quarantine rather than drop or crash on.
    """
    objects: dict[str, bytes] = {}
    by_day = data.transactions.with_columns(pl.col("event_time").dt.date().alias("_day")).partition_by(
        "_day", as_dict=True
    )
    for index, ((day,), frame) in enumerate(sorted(by_day.items(), key=lambda item: str(item[0]))):
        frame = frame.drop("_day")
        if index % 2 == 0:
            objects[f"transactions/day={day}/part-0.parquet"] = _parquet(frame)
        else:
            text = frame.with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
            if index == 1:
                text = _with_malformed_rows(text)
            objects[f"transactions/day={day}/part-0.csv"] = text.write_csv().encode()
    half = data.labels.height // 2
    objects["fraud_labels/batch-0001.parquet"] = _parquet(data.labels.head(half))
    objects["fraud_labels/batch-0002.csv"] = data.labels.tail(data.labels.height - half).write_csv().encode()
    return objects


def new_transaction(data: SyntheticData) -> tuple[str, dt.datetime, dict[str, bytes]]:
    """One more transaction, an hour after the dataset's last, by its busiest customer: (customer, time, objects).

    What the demo lands once a champion exists, so that the chain scores data the model never saw.
    """
    busiest = data.transactions.group_by("customer_id").len().sort("len", "customer_id", descending=True)
    customer = str(busiest["customer_id"][0])
    last = data.transactions.filter(pl.col("customer_id") == customer).tail(1)
    when = data.transactions["event_time"].max()
    assert isinstance(when, dt.datetime)
    row = last.with_columns(
        pl.lit(NEW_TRANSACTION_ID).alias("txn_id"),
        pl.lit(when + dt.timedelta(hours=1)).cast(pl.Datetime("us", "UTC")).alias("event_time"),
    )
    at = when + dt.timedelta(hours=1)
    return customer, at, {f"transactions/day={at.date()}/part-new.parquet": _parquet(row)}


def problem_objects(data: SyntheticData) -> dict[str, bytes]:
    """Objects a real raw bucket receives sooner or later, each of which ingestion must survive.

    A day re-sent under a new name (its rows are already in bronze), a truncated parquet file,
    an empty file, and a file whose producer added a column nobody declared (carrying personal
    data, which must not leak through the quarantine either).
    """
    good = raw_objects(data)
    first_day = next(key for key in sorted(good) if key.startswith("transactions/") and key.endswith(".parquet"))
    sample = data.transactions.head(5).with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return {
        first_day.replace("part-0", "part-0-resent"): good[first_day],
        "transactions/late/truncated.parquet": good[first_day][: len(good[first_day]) // 2],
        "transactions/late/empty.csv": b"",
        "transactions/late/new-column.csv": sample.with_columns(pl.col("customer_email").alias("backup_email"))
        .write_csv()
        .encode(),
    }


def _with_malformed_rows(frame: pl.DataFrame) -> pl.DataFrame:
    bad = frame.head(2).with_columns(
        pl.Series("txn_id", ["bad-amount", "bad-customer"]),
        pl.Series("amount", ["n/a", "12.5"]).cast(pl.String),
        pl.Series("customer_id", ["c00001", None], dtype=pl.String),
    )
    return pl.concat([frame.with_columns(pl.col("amount").cast(pl.String)), bad])


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def upload(settings: Settings, objects: dict[str, bytes], announce: bool = False) -> list[str]:
    """Put objects into the raw bucket as a producer would, in the dict's order; returns their keys.

    A re-sent copy must come after its original (``raw_objects`` before ``problem_objects``):
    ingest gives rows both carry to the object uploaded first. S3's ``LastModified`` has whole
    seconds, so a copy put in the same second ties with its original, and the tie goes by the
    order in which the objects' ``featurelake.raw-object.landed`` events arrived
    (:mod:`featurelake.ingest.order`). The local stack's event relay announces every upload as
    S3 notifies it; ``announce`` makes this call announce the objects itself, in upload order,
    for callers without that relay (tests). It needs a Prefect API.
    """
    keys = put_raw_objects(settings, objects)
    if announce:
        _announce_in_order(settings, keys)
    return keys


def _announce_in_order(settings: Settings, keys: list[str]) -> None:
    """Emit the landed event of each key, in the order given, with the ETag the bucket reports."""
    from featurelake.core.events import raw_object_source
    from featurelake.ingest.watcher import PendingObject, announce_landed

    listed = {
        o.key: o for prefix in {f"{raw_object_source(k)}/" for k in keys} for o in list_raw_objects(settings, prefix)
    }
    announce_landed(settings, [PendingObject(raw_object_source(key), listed[key]) for key in keys])

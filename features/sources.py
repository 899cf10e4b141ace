"""Contracts of the raw sources the example feature sets read.

``transactions``: one row per card transaction (grain: ``txn_id``), event time ``event_time``
in UTC. It carries personal data (the payer's e-mail, card number and IP address), which the
contract hashes, masks or drops before bronze.

``fraud_labels``: one row per labelled transaction, produced after the fact by the chargeback
process; ``event_time`` is the transaction's time, ``labeled_at`` when the label
became known. Labels carry the transaction's entity keys (customer, merchant) so they can serve
as a training spine directly.
"""

from __future__ import annotations

import polars as pl

from featurelake.core.contracts import Constraint, SourceContract

UTC_TIMESTAMP = pl.Datetime("us", "UTC")

TRANSACTIONS = SourceContract(
    name="transactions",
    columns={
        "txn_id": pl.String(),
        "customer_id": pl.String(),
        "customer_email": pl.String(),
        "card_number": pl.String(),
        "ip_address": pl.String(),
        "merchant_id": pl.String(),
        "amount": pl.Float64(),
        "currency": pl.String(),
        "country": pl.String(),
        "event_time": UTC_TIMESTAMP,
    },
    required=("txn_id", "customer_id", "merchant_id", "amount", "currency", "event_time"),
    primary_key=("txn_id",),
    event_time="event_time",
    constraints={
        "amount": Constraint(min_value=0, max_value=1_000_000),  # purchases; refunds arrive on another feed
        "currency": Constraint(pattern="[A-Z]{3}"),
        "country": Constraint(pattern="[A-Z]{2}"),
        "card_number": Constraint(pattern="[0-9]{12,19}"),
    },
    # Personal data: the e-mail still joins and counts distinct payers once keyed-hashed, the
    # last four card digits are what support staff ask for, and nothing downstream needs the IP.
    pii={"customer_email": "hash", "card_number": "mask", "ip_address": "drop"},
)

FRAUD_LABELS = SourceContract(
    name="fraud_labels",
    columns={
        "txn_id": pl.String(),
        "customer_id": pl.String(),
        "merchant_id": pl.String(),
        "event_time": UTC_TIMESTAMP,
        "is_fraud": pl.Boolean(),
        "labeled_at": UTC_TIMESTAMP,
    },
    required=("txn_id", "customer_id", "event_time", "is_fraud"),
    primary_key=("txn_id",),
    event_time="event_time",
)

SOURCES: dict[str, SourceContract] = {c.name: c for c in (TRANSACTIONS, FRAUD_LABELS)}

"""A feature set whose bounds the demo data breaks: builds of it must fail validation."""

from __future__ import annotations

import dataclasses

from features.customer_txn import CUSTOMER_TXN

STRICT = dataclasses.replace(
    CUSTOMER_TXN,
    name="customer_txn_strict",
    features=tuple(
        dataclasses.replace(f, max_value=100.0) if f.name.startswith("amount_max") else f for f in CUSTOMER_TXN.features
    ),
)

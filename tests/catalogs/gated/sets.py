"""customer_txn under another name, with a blocking and a warn-only owner expectation beside it that both fail."""

from __future__ import annotations

import dataclasses

from features.customer_txn import CUSTOMER_TXN

GATED = dataclasses.replace(CUSTOMER_TXN, name="customer_txn_gated")

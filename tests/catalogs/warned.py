"""A feature set with owner expectations beside it (warned.v1 file): one warn-only that fails, one that passes."""

from __future__ import annotations

import dataclasses

from features.customer_txn import CUSTOMER_TXN

WARNED = dataclasses.replace(CUSTOMER_TXN, name="customer_txn_warned")

"""The same edit done right: customer_txn v2 beside an untouched v1."""

from __future__ import annotations

import dataclasses

from features.customer_txn import CUSTOMER_TXN
from tests.catalogs.edits import half_day_sum

CUSTOMER_TXN_V2 = dataclasses.replace(half_day_sum(CUSTOMER_TXN), version=2)

"""customer_txn v1 edited in place: the change ``plan`` must refuse."""

from __future__ import annotations

from features import customer_txn
from tests.catalogs.edits import half_day_sum

CUSTOMER_TXN = half_day_sum(customer_txn.CUSTOMER_TXN)

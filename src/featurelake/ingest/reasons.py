"""Quarantine reasons counted: per object and reason, most frequent first.

Ingest's own reports (log, artifact, event) count the rows of the objects a run committed;
:mod:`featurelake.ingest.quarantine_view` counts the rows of the quarantine table. Both order
alike, so a person sees the same list in the Prefect UI and in ``featurelake quarantine``.
Reasons name columns, keys and rules, never a row's values (see
:func:`featurelake.core.contracts.apply_contract`), so counting them is safe to show anywhere.
"""

from __future__ import annotations

import polars as pl

from featurelake.core import events
from featurelake.core.contracts import REASON_COLUMN

#: The count column of :func:`count_reasons`.
ROWS = "rows"


def count_reasons(frame: pl.DataFrame, by: list[str] | None = None, *more: pl.Expr) -> pl.DataFrame:
    """Rows per reason (within each ``by`` group, with ``more`` aggregations): ``by``, then most rows, then reason."""
    groups = by or []
    counted = frame.group_by([*groups, REASON_COLUMN]).agg(pl.len().cast(pl.Int64).alias(ROWS), *more)
    return counted.sort([*groups, ROWS, REASON_COLUMN], descending=[*([False] * len(groups)), True, False])


def object_quarantine(key: str, etag: str, quarantined: pl.DataFrame) -> events.QuarantinedObject:
    """What one object sent to quarantine, every reason with its row count."""
    reasons = [events.QuarantineReason(reason=r, rows=n) for r, n in count_reasons(quarantined).iter_rows()]
    return events.QuarantinedObject(key=key, etag=etag, rows=quarantined.height, reasons=reasons)

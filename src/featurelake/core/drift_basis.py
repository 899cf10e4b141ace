"""What a batch's drift is measured against: like with like.

A build replaces some days of a feature table, and its drift is measured against the previous
publish. Two choices decide whether that comparison means anything:

- **The same span.** The days a batch rebuilt are compared with the same days of the previous
  publish: what readers saw there before against what they see now. Days a batch adds after
  the previous publish's last day have no earlier self; they are compared with the previous
  publish's latest days, as many as the batch adds (yesterday's rows against today's). Both
  are one rule: the batch's span moved back by the number of days it adds
  (:meth:`DriftBasis.reference_days`). Never the lookback days a chunk reads around its span.
- **Rows whose windows are full.** A trailing window that reaches back before the source's
  first row is still filling up: a 7-day count there is low because history is missing, not
  because customers changed. Rows closer than the feature set's lookback to the first source
  row are left out on both sides (:meth:`DriftBasis.settled`); until the source is older than
  the lookback nothing is judged, and the report says why.

A *shifted copy* of existing data is a new span of days whose source rows repeat an earlier
span moved forward by a whole number of days of at least the lookback (last week's traffic
replayed as this week's). Each copied row's windows then see as much distinct history as the
row it copies did, so the new days are distributed like the old ones and nothing may fire. A
copy moved by less than the lookback is not neutral: it repeats rows inside the new rows' own
windows (yesterday replayed as today doubles yesterday in every 7-day count), which is a real
change of those features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl


@dataclass(frozen=True)
class DriftBasis:
    """The previous publish a batch is compared with, on which days, and which rows of both sides count."""

    #: The previous publish's Delta version: the table as readers saw it before this batch.
    version: int
    #: The first and last day the batch rebuilt.
    batch_days: tuple[date, date]
    #: How many days the batch adds after the previous publish's last day (0: it only replaced days).
    new_days: int
    #: Rows earlier than this have windows reaching back before the first source row (None: all count).
    settled_from: datetime | None
    #: The feature set's lookback (its widest window), named in the description.
    lookback: timedelta

    def reference_days(self, start: date, end: date) -> tuple[date, date]:
        """The previous publish's days that days ``start..end`` of the batch are compared with."""
        shift = timedelta(days=self.new_days)
        return start - shift, end - shift

    def settled(self, frame: pl.DataFrame, time_column: str) -> pl.DataFrame:
        """The rows of ``frame`` whose trailing windows were full (all of them when that is unknown)."""
        if self.settled_from is None or time_column not in frame.columns:
            return frame
        return frame.filter(pl.col(time_column) >= self.settled_from)

    def describe(self) -> str:
        """One paragraph for the drift report: which days were compared, and which rows were left out."""
        first, last = self.batch_days
        compared = f"Days {_days(first, last)} of this batch against "
        if self.new_days:
            compared += (
                f"days {_days(*self.reference_days(first, last))} of Delta version {self.version} "
                f"(the batch adds {self.new_days} day(s) after that version's last day: its latest days stand in)."
            )
        else:
            compared += f"the same days of Delta version {self.version}."
        if self.settled_from is None:
            return compared
        return (
            f"{compared} Rows before {self.settled_from:%Y-%m-%d %H:%M} UTC are left out on both sides: their "
            f"{_duration(self.lookback)} windows reach back before the first source row, so they are still filling up."
        )


def _days(first: date, last: date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def _duration(span: timedelta) -> str:
    """``7-day``, ``36-hour``: how a window's length reads in a sentence."""
    if span % timedelta(days=1) == timedelta(0):
        return f"{span.days}-day"
    if span % timedelta(hours=1) == timedelta(0):
        return f"{int(span.total_seconds() // 3600)}-hour"
    return f"{span.total_seconds():g}-second"

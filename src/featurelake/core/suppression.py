"""Erased subjects, recognised in raw rows at ingest so that re-ingesting an object cannot bring them back.

The suppression list holds keyed hashes only: for each erased subject, its record hash
(:func:`featurelake.core.erasure.record_hash`, not the hash a hashed column holds, so the list
cannot be joined to hashed data and a proof scan for the data hash does not find it) under each
key the erasure could read, by key id. A raw row is suppressed when the record hash of its
value in the subject's column, under one of those keys, is one of the listed hashes. Rows are
matched before the PII policies run, so a plain, a hashed and a dropped column all match alike,
and a key rotated since the erasure still matches as long as it can be read (retired keys are
kept for that).

Pure: keys are arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from featurelake.core.erasure import record_hash
from featurelake.core.pii import PiiKeyError


@dataclass(frozen=True)
class Suppression:
    """One listed hash: the subject of ``request_id`` in ``column``, hashed under key ``key_id``."""

    column: str
    key_id: str
    subject_hash: str
    request_id: str


@dataclass(frozen=True)
class Suppressions:
    """The erased subjects of one source."""

    source: str
    entries: tuple[Suppression, ...] = ()

    def __bool__(self) -> bool:
        """True when some subject is listed (an empty list costs ingestion nothing)."""
        return bool(self.entries)

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of every key some listed hash was made with: the keys ingestion must read."""
        return frozenset(e.key_id for e in self.entries)

    def unmatchable(self, keys: Mapping[str, bytes]) -> list[str]:
        """The requests none of whose hashes can be checked with ``keys`` (their subjects would come back)."""
        requests = {e.request_id for e in self.entries}
        covered = {e.request_id for e in self.entries if e.key_id in keys}
        return sorted(requests - covered)

    def mask(self, frame: pl.DataFrame, keys: Mapping[str, bytes]) -> pl.Series:
        """True for each row of a raw ``frame`` that is a listed subject.

        Each listed column's distinct values are hashed once per usable key, so a large object
        of few distinct values costs few HMACs. Hashes of keys not in ``keys`` cannot match;
        :meth:`unmatchable` tells the caller whether that leaves a subject unprotected.
        """
        hit = pl.Series("_suppressed", [False] * frame.height, dtype=pl.Boolean)
        for column in sorted({e.column for e in self.entries} & set(frame.columns)):
            text = frame[column].cast(pl.String, strict=False)
            matched = self._matching_values(column, text.drop_nulls().unique().to_list(), keys)
            if matched:
                hit = hit | text.is_in(sorted(matched)).fill_null(False)
        return hit.alias("_suppressed")

    def _matching_values(self, column: str, values: list[str], keys: Mapping[str, bytes]) -> set[str]:
        """The values whose hash under some usable key is listed for ``column`` and that key."""
        wanted: dict[str, set[str]] = {}
        for e in self.entries:
            if e.column == column and e.key_id in keys:
                wanted.setdefault(e.key_id, set()).add(e.subject_hash)
        return {v for kid, hashes in wanted.items() for v in values if record_hash(keys[kid], v) in hashes}


@dataclass(frozen=True)
class Suppressor:
    """A source's suppressions with the keys to check them: what ingestion applies to every raw frame."""

    suppressions: Suppressions
    keys: Mapping[str, bytes]

    def mask(self, frame: pl.DataFrame) -> pl.Series:
        """True for the rows of ``frame`` that are erased subjects (see :meth:`Suppressions.mask`)."""
        return self.suppressions.mask(frame, self.keys)


def suppressor(suppressions: Suppressions, keys: Mapping[str, bytes]) -> Suppressor | None:
    """The suppressor to ingest ``suppressions``' source with; None when nobody is listed.

    Raises:
        PiiKeyError: some erased subject's hashes were all made with keys not in ``keys``: ingesting
            would let it back into the lake, so ingestion must stop until its key can be read.
    """
    if not suppressions:
        return None
    missing = suppressions.unmatchable(keys)
    if missing:
        raise PiiKeyError(
            f"source {suppressions.source!r}: the suppression list of {len(missing)} erasure request(s) "
            f"({missing[:5]}) was hashed with PII keys that cannot be read (needed: {sorted(suppressions.key_ids)}, "
            f"readable: {sorted(keys)}); restore the retired key(s) (`<pii_key_name>-retired-<key_id>`) "
            "before ingesting, or the erased subjects would be ingested again"
        )
    return Suppressor(suppressions, dict(keys))

"""A data subject to erase, and how the lake recognises it without ever holding its raw value.

A request names a source and one of its columns (``customer_id=c001``). The lake holds that
column in one of three ways, set by the source contract's PII policy:

- **plain** (no policy): the raw value. It is matched by hashing the column's distinct values
  under the current key and comparing with the subject's hash, so the matcher itself needs no
  raw value (a deployment run carries only the request id; the request holds hashes);
- **hash**: HMAC-SHA256 under whichever key was current when the row was ingested. The
  subject's hash under every key the erasure can read (current and retired) is compared;
- **drop**: the column never reached the lake; only the raw objects hold it.

A **masked** column (``************1111``) cannot identify anyone by itself and is refused.

Everything here is pure: keys are arguments.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl
from pydantic import BaseModel

from featurelake.core.contracts import SourceContract
from featurelake.core.pii import hmac_hex

MatchKind = Literal["plain", "hash", "drop"]
_NAMESPACE = uuid.UUID("0b7f3f0e-51b5-4c8e-9f0e-5a8d1e6c2f41")
#: A hash needle is searched by this many leading hex characters: a statistic truncated to a
#: prefix still leaks the hash, and 80 bits cannot collide by chance.
HASH_PREFIX_CHARS = 20
#: Raw values shorter than this are searched only as whole cells, never inside free text or
#: bytes: ``"7"`` occurs in every file.
MIN_TEXT_NEEDLE = 4
_RECORD_PREFIX = "featurelake-erasure-record|"


class ErasureError(ValueError):
    """A request that cannot be carried out as given (unknown column, masked column, bad syntax)."""


def parse_subject(text: str) -> tuple[str, str]:
    """``column=value`` → (column, value); the value may itself contain ``=``.

    Raises:
        ErasureError: without ``=`` or with an empty side; the message never repeats the value.
    """
    column, sep, value = text.partition("=")
    if not sep or not column.strip() or value == "":
        raise ErasureError("a subject is given as <column>=<value>, e.g. customer_id=c001")
    return column.strip(), value


def match_kind(contract: SourceContract, column: str) -> MatchKind:
    """How the lake holds ``column`` of ``contract``'s source.

    Raises:
        ErasureError: for a column the contract does not declare, or a masked one.
    """
    if column not in contract.columns:
        raise ErasureError(
            f"source {contract.name!r} has no column {column!r}; its columns are {sorted(contract.columns)}"
        )
    policy = contract.pii.get(column)
    if policy == "mask":
        raise ErasureError(
            f"column {column!r} of {contract.name!r} is masked in the lake: a masked value cannot identify a subject "
            "by itself; name the subject by an identifying column instead (e.g. its id or a hashed e-mail)"
        )
    return "hash" if policy == "hash" else "drop" if policy == "drop" else "plain"


@dataclass(frozen=True)
class Subject:
    """One data subject of one source, as keyed hashes only (safe to store, log and send)."""

    source: str
    column: str
    kind: MatchKind
    #: The id of the key ``record_hash`` and ``data_hash`` are made with (the current key when the request was made).
    key_id: str
    #: HMAC-SHA256 hex of the value under each key the request could read, by key id: what a hashed
    #: column holds. Kept in memory (and in a pending request) only: a proof scan searches for them.
    hashes: tuple[tuple[str, str], ...]
    #: :func:`record_hash` of the value under each key, by key id: what the erasure log, the event and
    #: the suppression list hold.
    records: tuple[tuple[str, str], ...] = ()

    @property
    def record_hash(self) -> str:
        """The subject as the erasure log and the event name it (under the request's key)."""
        return dict(self.records)[self.key_id]

    @property
    def data_hash(self) -> str:
        """The subject as a hashed column holds it under the request's key (matches plain columns too)."""
        return dict(self.hashes)[self.key_id]

    @property
    def request_id(self) -> str:
        """The same subject of the same source always makes the same request (a re-run continues it)."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.source}|{self.column}|{self.record_hash}"))

    @property
    def all_hashes(self) -> frozenset[str]:
        """The subject's hash under every known key."""
        return frozenset(h for _, h in self.hashes)


def subject_of(contract: SourceContract, column: str, value: str, keys: Mapping[str, bytes], key_id: str) -> Subject:
    """The subject ``column=value`` of ``contract``'s source, hashed under ``keys`` (``key_id`` is the current one).

    Raises:
        ErasureError: see :func:`match_kind`; or when ``key_id`` is not among ``keys``.
    """
    kind = match_kind(contract, column)
    if key_id not in keys:
        raise ErasureError(f"the current PII key {key_id} is not among the keys given")
    hashes = tuple(sorted((kid, hmac_hex(key, value)) for kid, key in keys.items()))
    records = tuple(sorted((kid, record_hash(key, value)) for kid, key in keys.items()))
    return Subject(contract.name, column, kind, key_id, hashes, records)


def record_hash(key: bytes, value: str) -> str:
    """The keyed hash erasure records hold: another derivation than a hashed column's.

    A record can then never be joined to hashed data left somewhere (a backup, an export), and a
    proof scan for the data's hash does not find the erasure's own records.
    """
    return hmac_hex(key, _RECORD_PREFIX + value)


def matching_values(values: Iterable[str | None], subject: Subject, current_key: bytes) -> list[str]:
    """The distinct values of a lake column that are the subject (several: one per key for hashed columns).

    ``current_key`` hashes plain values; it must be the key of ``subject.key_id``.
    """
    distinct = {v for v in values if v is not None}
    if subject.kind == "hash":
        return sorted(distinct & subject.all_hashes)
    if subject.kind == "drop":
        return []
    return sorted(v for v in distinct if hmac_hex(current_key, v) == subject.data_hash)


def raw_content_values(text: str, column: str) -> list[str]:
    """The values of ``column`` in a quarantine record's raw content (one JSON row, or NDJSON lines).

    Content that is not JSON (the start of an unreadable file) yields nothing here; the proof
    scan still searches it as text.
    """
    found: list[str] = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get(column) is not None:
            found.append(str(row[column]))
    return found


def without_subject_lines(text: str, column: str, values: frozenset[str]) -> tuple[str, int]:
    """Raw content with the lines whose ``column`` is one of ``values`` removed, and how many were."""
    kept, removed = [], 0
    for line in text.splitlines():
        if set(raw_content_values(line, column)) & values:
            removed += 1
        else:
            kept.append(line)
    return "\n".join(kept) + ("\n" if kept and text.endswith("\n") else ""), removed


@dataclass(frozen=True)
class Needles:
    """What a proof scan searches for: the raw value (when an operator gives it) and every keyed hash.

    Never printed: a hit names where it is and which kind of needle (``value`` or ``hash``).
    """

    value: str | None
    hashes: frozenset[str] = field(default_factory=frozenset)

    def _patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        patterns = [("hash", re.compile(re.escape(h[:HASH_PREFIX_CHARS]))) for h in sorted(self.hashes)]
        if self.value is not None and len(self.value) >= MIN_TEXT_NEEDLE:
            patterns.append(("value", re.compile(rf"(?<![A-Za-z0-9_]){re.escape(self.value)}(?![A-Za-z0-9_])")))
        return patterns

    def in_text(self, text: str) -> set[str]:
        """Which needle kinds occur in ``text`` (the value only as a whole token)."""
        found = {kind for kind, pattern in self._patterns() if pattern.search(text)}
        if self.value is not None and text == self.value:
            found.add("value")
        return found

    def in_bytes(self, data: bytes) -> set[str]:
        """Which needle kinds occur in raw bytes (decoded as UTF-8, undecodable bytes replaced)."""
        return self.in_text(data.decode("utf-8", errors="replace"))

    def in_frame(self, frame: pl.DataFrame) -> dict[str, set[str]]:
        """Per column, which needle kinds occur in its cells (nested values as their JSON text)."""
        hits: dict[str, set[str]] = {}
        for name in frame.columns:
            column = frame[name]
            if column.dtype.is_nested():  # structs and lists (of structs) as JSON text, cell by cell
                texts = pl.Series([json.dumps(v, default=str) for v in column.to_list()], dtype=pl.String)
            else:
                texts = column.cast(pl.String, strict=False)
            found: set[str] = set()
            for text in texts.drop_nulls().unique().to_list():
                found |= self.in_text(str(text))
            if found:
                hits[name] = found
        return hits


class SubjectErased(BaseModel):
    """A data subject is gone from a source's lake tables and online store (and raw objects, when rewritten)."""

    request_id: str
    source: str
    column: str
    #: The subject's record hash under ``key_id`` (:func:`featurelake.core.erasure.record_hash`), never its value.
    subject_hash: str
    key_id: str
    #: Lake table (relative path) → rows removed from it; → the Delta version the erasure left it at.
    rows_removed: dict[str, int]
    versions_written: dict[str, int]
    files_vacuumed: int
    online_items_deleted: int
    raw_objects_rewritten: int
    #: Registered model versions (``name@version``) trained on data the erasure removed.
    models_affected: list[str]
    erasure_log_version: int

"""Scrub a data subject out of a Delta table's log, after their rows were deleted and their files purged.

A Delta DELETE removes rows, not the traces of them the log keeps: the purged files' ``add`` and
``remove`` actions still carry min/max statistics (which may be the subject's value or keyed
hash), the DELETE's ``commitInfo`` holds its predicate (the values it deleted), and checkpoints
copy the statistics again. Rewriting those bytes in place is safe: a log entry keeps its name
and describes the same actions (the same files, sizes and partition values), so a reader sees
either the old or the new bytes and loads the same snapshot from both; only data-skipping
statistics of files that no longer exist, and texts nobody replays, change.

The transforms are pure (bytes in, bytes out, None when nothing changes); :func:`scrub_log`
applies them to every entry under ``_delta_log/`` through delta-rs's own object-store access.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from featurelake.core.commits import ERASURE_REQUEST
from featurelake.core.erasure import Needles
from featurelake.io.delta.erasure_files import (
    LOG_DIR,
    decoded,
    is_checkpoint,
    lake_fs,
    log_entries,
    read_all,
    read_bytes,
    write_bytes,
)
from featurelake.io.delta.store import DeltaStore

LAST_CHECKPOINT = f"{LOG_DIR}/_last_checkpoint"
#: Fields of a file action that describe the file's contents (statistics, tags): dropped for purged files.
_CONTENT_FIELDS = ("stats", "stats_parsed", "tags")
_FILE_ACTIONS = ("add", "remove", "cdc")
REDACTED = "[erased]"


class PersonalPartitionError(ValueError):
    """A table is partitioned by a column holding the subject: its paths name them, the log cannot be scrubbed."""


@dataclass(frozen=True)
class ScrubResult:
    """What a scrub rewrote, and which log entries still hold a needle afterwards (names only)."""

    commits_rewritten: int
    checkpoints_rewritten: int
    #: Log entries (relative to the table root) where a needle remains: report them, a person must look.
    residual: tuple[str, ...] = ()


def scrub_commit(
    data: bytes, purged: frozenset[str], needles: Needles, redact_requests: frozenset[str]
) -> bytes | None:
    """One JSON log entry (a commit, or a JSON checkpoint) without the subject's traces; None if already clean.

    Lines that do not change keep their exact bytes.

    Raises:
        PersonalPartitionError: when a file action's partition value is a needle.
    """
    lines = data.decode("utf-8").split("\n")
    changed = False
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        action = json.loads(line)
        if _scrub_action(action, purged, needles, redact_requests):
            lines[index] = json.dumps(action, ensure_ascii=False, separators=(",", ":"))
            changed = True
    return "\n".join(lines).encode("utf-8") if changed else None


def _scrub_action(action: dict[str, Any], purged: frozenset[str], needles: Needles, requests: frozenset[str]) -> bool:
    """Scrub one action in place; whether it changed."""
    changed = False
    for kind in _FILE_ACTIONS:
        body = action.get(kind)
        if isinstance(body, dict):
            _check_partitions(body.get("partitionValues"), needles)
            changed |= _drop_content(body, purged, needles)
    info = action.get("commitInfo")
    if isinstance(info, dict):
        changed |= _scrub_commit_info(info, needles, requests)
    return changed


def _check_partitions(values: object, needles: Needles) -> None:
    """Refuse a partition value that is the subject: it is in the file's path, in every version, in every listing."""
    pairs = values.items() if isinstance(values, dict) else values if isinstance(values, list) else []
    for pair in pairs:
        column, value = pair if isinstance(pair, tuple) else (pair.get("key"), pair.get("value"))
        if isinstance(value, str) and needles.in_text(value):
            raise PersonalPartitionError(
                f"the table is partitioned by {column!r}, which holds the data subject: file paths and every "
                "log entry name the value, so the log cannot be scrubbed in place; rewrite the table into a new "
                "one not partitioned by a personal column (or by its keyed hash) and erase again"
            )


def _drop_content(body: dict[str, Any], purged: frozenset[str], needles: Needles) -> bool:
    """Drop a file action's statistics and tags when the file was purged or they name the subject.

    Tags become null (delta-rs writes the field), statistics go: a reader then simply cannot skip the file.
    """
    present = [f for f in _CONTENT_FIELDS if body.get(f) is not None]
    if not present or (decoded(body.get("path")) not in purged and not _leaks(body, present, needles)):
        return False
    for name in present:
        if name == "tags":
            body["tags"] = None
        else:
            del body[name]
    return True


def _leaks(body: dict[str, Any], fields: list[str], needles: Needles) -> bool:
    """Whether any of these fields (a JSON string, or a nested value) holds a needle."""
    return any(needles.in_text(_as_text(body[f])) for f in fields)


def _as_text(value: object) -> str:
    """A statistic as searchable text: a string as it is (no second escaping), anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _scrub_commit_info(info: dict[str, Any], needles: Needles, requests: frozenset[str]) -> bool:
    """Redact an erasure's own predicate (by request id) and any other string that names the subject."""
    changed = False
    request = info.get(ERASURE_REQUEST)
    parameters = info.get("operationParameters")
    if request in requests and isinstance(parameters, dict):
        marker = f"[erased: {request}]"
        for key in [k for k in parameters if "predicate" in k.lower()]:
            if parameters[key] != marker and parameters[key] not in ("[]", None):
                parameters[key], changed = marker, True
    return _redact_strings(info, needles) or changed


def _redact_strings(node: dict[str, Any] | list[Any], needles: Needles) -> bool:
    """Replace every string value in a JSON tree that holds a needle with ``[erased]``; whether any did.

    Keys are left alone (they are ours or delta-rs's); a needle in one is left to the residual check.
    """
    changed = False
    items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
    for key, value in items:
        if isinstance(value, (dict, list)):
            changed |= _redact_strings(value, needles)
        elif isinstance(value, str) and value != REDACTED and needles.in_text(value):
            node[key], changed = REDACTED, True  # type: ignore[index]
    return changed


def scrub_checkpoint(data: bytes, purged: frozenset[str], needles: Needles) -> bytes | None:
    """A checkpoint parquet with the statistics and tags of purged (or leaking) files nulled; None if already clean.

    The schema (field names, types, nullability, key-value metadata) stays the same, so readers
    parse it as before.

    Raises:
        PersonalPartitionError: when a file action's partition value is a needle.
    """
    table = pq.read_table(pa.BufferReader(data))
    changed = False
    for kind in (k for k in _FILE_ACTIONS if k in table.column_names):
        column = table.column(kind).combine_chunks()
        assert isinstance(column, pa.StructArray)
        names = [column.type.field(i).name for i in range(column.type.num_fields)]
        if "partitionValues" in names:
            for values in column.field("partitionValues").to_pylist():
                _check_partitions(values, needles)
        mask = _scrubbed_rows(column, names, purged, needles)
        if any(mask):
            table = table.set_column(table.column_names.index(kind), kind, _null_fields(column, names, mask))
            changed = True
    if not changed:
        return None
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _scrubbed_rows(column: pa.StructArray, names: list[str], purged: frozenset[str], needles: Needles) -> list[bool]:
    """Rows whose file was purged, or whose statistics or tags name the subject, and still hold any."""
    paths = [decoded(p) for p in column.field("path").to_pylist()]
    present = [f for f in _CONTENT_FIELDS if f in names]
    contents = [column.field(f).to_pylist() for f in present]
    mask = []
    for row, path in enumerate(paths):
        held = [c[row] for c in contents if c[row] is not None]
        leaking = any(needles.in_text(_as_text(h)) for h in held)
        mask.append(bool(held) and (path in purged or leaking))
    return mask


def _null_fields(column: pa.StructArray, names: list[str], mask: list[bool]) -> pa.StructArray:
    """The struct column with its content fields set to null on the masked rows (a take from child + one null)."""
    indices = pa.array([len(column) if m else i for i, m in enumerate(mask)], pa.int64())
    children = []
    for i, name in enumerate(names):
        child = column.field(i)
        if name in _CONTENT_FIELDS:
            child = pc.take(pa.concat_arrays([child, pa.nulls(1, child.type)]), indices)
        children.append(child)
    fields = [column.type.field(i) for i in range(column.type.num_fields)]
    return pa.StructArray.from_arrays(children, fields=fields, mask=pc.invert(column.is_valid()))


def last_checkpoint_with_size(data: bytes, version: int, size: int) -> bytes | None:
    """``_last_checkpoint`` with the rewritten checkpoint's size, when it points at ``version``; else None."""
    pointer = json.loads(data)
    if pointer.get("version") != version or "sizeInBytes" not in pointer or pointer["sizeInBytes"] == size:
        return None
    pointer["sizeInBytes"] = size
    pointer.pop("checksum", None)  # a checksum of the old content would now be wrong; it is optional
    return json.dumps(pointer, separators=(",", ":")).encode()


def scrub_log(
    store: DeltaStore, path: str, purged: frozenset[str], needles: Needles, redact_requests: frozenset[str]
) -> ScrubResult:
    """Rewrite every log entry of a table that still carries the subject (see the module docstring).

    Every entry is transformed before any is written, so a table partitioned by the subject's
    column is refused before anything changed. Idempotent: a second run rewrites nothing.

    Args:
        store: the lake.
        path: the table, relative to the lake root.
        purged: relative, decoded paths of the data files that held the subject (already deleted).
        needles: the subject's value (if known) and keyed hashes.
        redact_requests: erasure request ids whose DELETE predicates are to be redacted.

    Raises:
        PersonalPartitionError: for a table partitioned by the subject's column.
    """
    fs = lake_fs(store, path)
    entries = log_entries(fs)
    names = [n for n in entries if n.endswith(".json") or is_checkpoint(n)]
    rewrites: dict[str, bytes] = {}
    for name, data in zip(names, read_all(fs, names), strict=True):
        if is_checkpoint(name):
            new = scrub_checkpoint(data, purged, needles)
        else:
            new = scrub_commit(data, purged, needles, redact_requests)
        if new is not None:
            rewrites[name] = new
    for name, data in rewrites.items():
        write_bytes(fs, name, data)
    _refresh_last_checkpoint(fs, entries, rewrites)
    after = log_entries(fs)  # read back from storage: the proof is what it holds, not what was sent
    residual = tuple(
        name for name, data in zip(after, read_all(fs, after), strict=True) if entry_holds(name, data, needles)
    )
    checkpoints = sum(1 for name in rewrites if is_checkpoint(name))
    return ScrubResult(len(rewrites) - checkpoints, checkpoints, residual)


def _refresh_last_checkpoint(fs: pafs.FileSystem, entries: Iterable[str], rewrites: dict[str, bytes]) -> None:
    """Keep ``_last_checkpoint``'s ``sizeInBytes`` true for a rewritten checkpoint (all its parts)."""
    if LAST_CHECKPOINT not in entries:
        return
    pointer = json.loads(read_bytes(fs, LAST_CHECKPOINT))
    prefix = f"{LOG_DIR}/{int(pointer.get('version', -1)):020d}.checkpoint."
    parts = [n for n in entries if n.startswith(prefix) and is_checkpoint(n)]
    if not any(n in rewrites for n in parts):
        return
    size = sum(info.size or 0 for info in fs.get_file_info(parts))
    new = last_checkpoint_with_size(read_bytes(fs, LAST_CHECKPOINT), int(pointer["version"]), size)
    if new is not None:
        write_bytes(fs, LAST_CHECKPOINT, new)


def entry_holds(name: str, data: bytes, needles: Needles) -> bool:
    """Whether a log entry holds a needle: its bytes, and a parquet entry's decoded values too."""
    if needles.in_bytes(data):
        return True
    if not is_checkpoint(name):
        return False
    text = json.dumps(pq.read_table(pa.BufferReader(data)).to_pylist(), ensure_ascii=False, default=str)
    return bool(needles.in_text(text))

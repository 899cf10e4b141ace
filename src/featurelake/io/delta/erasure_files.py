"""The data files of a Delta table, found and purged at the storage level, for an erasure.

A Delta DELETE is logical: the data files that held the rows stay on storage (older versions
still read them) until a vacuum, which keeps them for the retention period and for every version
a model is pinned to. The right to erasure overrides that for exactly the files that held the
subject, so they are found here (in every version the log can still load, not only the latest)
and purged. Raw objects are reached through delta-rs's own object store (the same endpoint,
credentials and encryption options as every table access).

Paths are relative to the table root and percent-decoded: the object-store path of the file,
as :func:`~featurelake.io.delta.maintenance.relative_path` spells them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake.fs import DeltaStorageHandler

from featurelake.io.delta.maintenance import data_files
from featurelake.io.delta.store import DeltaStore

LOG_DIR = "_delta_log"
#: Concurrent GETs when reading a whole log.
_READERS = 8


def lake_fs(store: DeltaStore, path: str) -> pafs.FileSystem:
    """The table's storage as a pyarrow filesystem rooted at the table, through delta-rs's object store.

    The same endpoint, credentials and encryption options as every table access; paths are
    relative to the table root and percent-decoded (as :func:`~featurelake.io.delta.maintenance.relative_path`).
    """
    return pafs.PyFileSystem(_LakeHandler(store.uri(path), store.storage_options))


class _LakeHandler(DeltaStorageHandler):
    """delta-rs's storage handler with writes that work.

    deltalake 1.6.6's output stream accepts only ``bytes``, while pyarrow (25) hands every write a
    ``Buffer``: ``open_output_stream(...).write(b"x")`` fails with "'Buffer' object is not an
    instance of 'bytes'". The stream is wrapped to convert.
    """

    def open_output_stream(self, path: str, metadata: dict[str, str] | None = None) -> pa.PythonFile:
        return pa.PythonFile(_BytesSink(self._handler.open_output_stream(path, metadata)), mode="w")


class _BytesSink:
    """A write-only stream handing ``bytes`` to delta-rs's object-store stream."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        return int(self._stream.write(memoryview(data).tobytes()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def log_entries(fs: pafs.FileSystem) -> list[str]:
    """Every object under ``_delta_log/`` (commits, checkpoints, ``_last_checkpoint``, anything else), sorted."""
    infos = fs.get_file_info(pafs.FileSelector(LOG_DIR, allow_not_found=True, recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File)


def read_bytes(fs: pafs.FileSystem, name: str) -> bytes:
    """One object's bytes."""
    with fs.open_input_stream(name) as stream:
        return bytes(stream.read())


def read_all(fs: pafs.FileSystem, names: list[str]) -> list[bytes]:
    """Many objects' bytes, in order, fetched concurrently (a log of hundreds of commits is hundreds of GETs)."""
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        return list(pool.map(lambda name: read_bytes(fs, name), names))


def write_bytes(fs: pafs.FileSystem, name: str, data: bytes) -> None:
    """Overwrite one object (a plain PUT: readers see the old or the new bytes)."""
    with fs.open_output_stream(name) as stream:
        stream.write(data)


def is_checkpoint(name: str) -> bool:
    """A checkpoint part (classic, multi-part or a v2 sidecar): parquet under ``_delta_log/``."""
    return name.endswith(".parquet")


def decoded(path: str | None) -> str | None:
    """A log path (URI-encoded, relative) as the object-store path of the file."""
    return None if path is None else unquote(path)


@dataclass(frozen=True)
class FileRecord:
    """A data file some loadable version of a table references, with what its log entry says about it."""

    path: str
    #: Whether the latest version reads it (else only older versions, kept for pins or retention).
    live: bool
    min_values: dict[str, object]
    max_values: dict[str, object]
    size: int
    partition_values: dict[str, str | None] = field(default_factory=dict)
    #: For a file on storage that no log entry names (a write that lost its commit race, or one
    #: still committing): when it was written. None for a file the log names.
    orphan_since: datetime | None = None


def referenced_files(store: DeltaStore, path: str) -> list[FileRecord]:
    """Every data file named by an ``add`` or ``remove`` action of any log entry still on storage.

    This is read from the log (each commit and checkpoint once), not by loading every version
    (which replays the log once per version). It covers every loadable version (a version loads
    from a checkpoint plus later commits, all of which are read here) and errs on the side of
    more: a file named only by an older entry (or only by a ``remove``) is listed too, since it
    may still be on storage. Statistics come from an ``add`` that has them.
    """
    table = store.table(path)
    if table is None:
        return []
    live = data_files(table)
    fs = lake_fs(store, path)
    found: dict[str, FileRecord] = {}
    names = [n for n in log_entries(fs) if n.endswith(".json") or is_checkpoint(n)]
    for name, data in zip(names, read_all(fs, names), strict=True):
        actions = _checkpoint_actions(data) if is_checkpoint(name) else _commit_actions(data)
        for action in actions:
            record = _file_record(action, live)
            if record is not None and (record.path not in found or _better(record, found[record.path])):
                found[record.path] = record
    return sorted(found.values(), key=lambda r: r.path)


def files_on_storage(store: DeltaStore, path: str) -> list[FileRecord]:
    """:func:`referenced_files` plus the data files on storage that no log entry names (orphans).

    A writer whose commit lost a race leaves the files it wrote behind; they hold rows like any
    other (an ingest's, say) until a vacuum removes them, so an erasure must see them too.
    """
    named = referenced_files(store, path)
    if store.table(path) is None:
        return named
    known = {record.path for record in named}
    fs = lake_fs(store, path)
    infos = fs.get_file_info(pafs.FileSelector("", allow_not_found=True, recursive=True))
    orphans = [
        FileRecord(i.path, False, {}, {}, int(i.size or 0), orphan_since=i.mtime)
        for i in infos
        if i.type == pafs.FileType.File
        and i.path.endswith(".parquet")
        and not i.path.startswith(LOG_DIR)
        and i.path not in known
    ]
    return sorted([*named, *orphans], key=lambda r: r.path)


def _commit_actions(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of the file actions in a JSON log entry."""
    lines = data.decode("utf-8").splitlines()
    actions = [json.loads(line) for line in lines if line.strip()]
    return [(kind, a[kind]) for a in actions for kind in ("add", "remove") if isinstance(a.get(kind), dict)]


def _checkpoint_actions(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of the file actions in a checkpoint part."""
    table = pq.read_table(pa.BufferReader(data))
    found = []
    for kind in ("add", "remove"):
        if kind in table.column_names:
            found += [(kind, body) for body in table.column(kind).to_pylist() if body is not None]
    return found


def _file_record(action: tuple[str, dict[str, Any]], live: set[str]) -> FileRecord | None:
    kind, body = action
    path = decoded(body.get("path"))
    if path is None:
        return None
    stats = json.loads(body["stats"]) if kind == "add" and body.get("stats") else {}
    partitions = body.get("partitionValues") or {}
    pairs = dict(partitions) if isinstance(partitions, list) else partitions
    return FileRecord(
        path=path,
        live=path in live,
        min_values=_flat(stats.get("minValues", {})),
        max_values=_flat(stats.get("maxValues", {})),
        size=int(body.get("size") or 0),
        partition_values=pairs,
    )


def _better(new: FileRecord, old: FileRecord) -> bool:
    """Keep the record with statistics (an ``add``'s) over one without (a ``remove``'s)."""
    return bool(new.min_values or new.max_values) and not (old.min_values or old.max_values)


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    """Nested statistics (structs) as dotted column names."""
    flat: dict[str, object] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            flat |= _flat(value, f"{prefix}{name}.")
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def files_containing(
    store: DeltaStore, path: str, files: list[FileRecord], column: str, values: frozenset[str]
) -> set[str]:
    """The files (of ``files``) that really hold one of ``values`` in ``column`` and are still on storage.

    A file whose string [min, max] statistics cannot hold any value is not read: delta-rs
    truncates long string statistics to a lower bound (min) and an upper bound (max), so the
    test never skips a file that holds one. The others are read: that column only, with
    row groups pruned by their own statistics.
    """
    if not values:
        return set()
    candidates = [f for f in files if _may_hold(f, column, values)]
    fs = lake_fs(store, path)
    present = {i.path for i in fs.get_file_info([f.path for f in candidates]) if i.type == pafs.FileType.File}
    return {f.path for f in candidates if f.path in present and _holds(fs, f, column, values)}


def _may_hold(record: FileRecord, column: str, values: frozenset[str]) -> bool:
    if column in record.partition_values:
        return record.partition_values[column] in values
    low, high = record.min_values.get(column), record.max_values.get(column)
    if not isinstance(low, str) or not isinstance(high, str):
        return True
    return any(low <= value <= high for value in values)


def _holds(fs: pafs.FileSystem, record: FileRecord, column: str, values: frozenset[str]) -> bool:
    if column in record.partition_values:
        return True
    with fs.open_input_file(record.path) as handle:
        parquet = pq.ParquetFile(handle)
        if column not in parquet.schema_arrow.names:
            return False  # written before the column existed
        rows = parquet.read(columns=[column]).column(column)
    return bool(pc.any(pc.is_in(rows.cast(pa.string()), pa.array(sorted(values)))).as_py())


def purge_files(store: DeltaStore, path: str, files: Iterable[str]) -> list[str]:
    """Physically delete exactly these data files, whatever version or model pin still names them.

    Idempotent: a file already gone is skipped. Returns the files this call deleted, sorted.

    Raises:
        ValueError: for a path outside the table's data files (the log, absolute, ``..``).
    """
    names = sorted(set(files))
    for name in names:
        if name.startswith((LOG_DIR, "/")) or ".." in name.split("/") or "://" in name:
            raise ValueError(f"refusing to purge {name!r} of {store.uri(path)}: not a data file of the table")
    if not names:
        return []
    fs = lake_fs(store, path)
    present = [i.path for i in fs.get_file_info(names) if i.type == pafs.FileType.File]
    for name in present:
        fs.delete_file(name)
    return sorted(present)

"""Reading individual data files of a Delta table, including files only older versions reference.

An erasure must find a subject's rows wherever they still sit on storage: in the latest
snapshot, and in files an older version (kept for time travel or a model's pin) references.
The table API only reads one snapshot at a time, so these files are read one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import polars as pl
import pyarrow.parquet as pq
from deltalake.fs import DeltaStorageHandler

from featurelake.core.contracts import RAW_CONTENT
from featurelake.core.erasure import raw_content_values
from featurelake.io.delta.store import DeltaStore


class HasPath(Protocol):
    """A data file's record: its path relative to the table root."""

    @property
    def path(self) -> str:
        """The file's path relative to the table root."""


def storage_handler(store: DeltaStore, path: str) -> DeltaStorageHandler:
    """A filesystem rooted at the table at ``path`` (paths relative to the table root)."""
    return DeltaStorageHandler(store.uri(path), options=store.storage_options)


def read_files(store: DeltaStore, path: str, files: Iterable[str], columns: list[str]) -> pl.DataFrame:
    """The ``columns`` of the given data files (relative paths), concatenated; missing files are skipped.

    Columns a file lacks (added to the table later) come back as nulls. Partition columns are not
    in the files; callers that need them read the snapshot instead.
    """
    handler = storage_handler(store, path)
    frames = []
    for name in sorted(set(files)):
        try:
            source = handler.open_input_file(name)
        except (FileNotFoundError, OSError):
            continue
        parquet = pq.ParquetFile(source)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        frame = pl.from_arrow(parquet.read(columns=present))
        assert isinstance(frame, pl.DataFrame)
        frames.append(frame)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def raw_content_files(
    store: DeltaStore, path: str, files: Iterable[HasPath], column: str, values: frozenset[str]
) -> set[str]:
    """The quarantine files whose raw content (``_raw``: JSON rows) holds ``column`` equal to one of ``values``.

    Raw content is free text to the statistics, so every file is read (quarantine tables are small).
    """
    held = set()
    for record in files:
        frame = read_files(store, path, [record.path], [RAW_CONTENT])
        if frame.is_empty() or RAW_CONTENT not in frame.columns:
            continue
        texts = frame[RAW_CONTENT].drop_nulls().to_list()
        if any(set(raw_content_values(text, column)) & values for text in texts):
            held.add(record.path)
    return held

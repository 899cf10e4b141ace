"""Reading individual data files of a Delta table, including files only older versions reference.

An erasure must find a subject's rows wherever they still sit on storage: in the latest
snapshot, and in files an older version (kept for time travel or a model's pin) references.
The table API only reads one snapshot at a time, so these files are read one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
import pyarrow.parquet as pq
from deltalake.fs import DeltaStorageHandler

from featurelake.io.delta.store import DeltaStore


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

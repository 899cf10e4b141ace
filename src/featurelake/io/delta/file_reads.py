"""Reading individual data files of a Delta table, including files only older versions reference.

An erasure must find a subject's rows wherever they still sit on storage: in the latest
snapshot, and in files an older version (kept for time travel or a model's pin) references.
The table API only reads one snapshot at a time, so these files are read one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
import pyarrow.parquet as pq

from featurelake.core.contracts import RAW_CONTENT
from featurelake.core.erasure import raw_content_values
from featurelake.io.delta.erasure_files import FileRecord, lake_fs
from featurelake.io.delta.store import DeltaStore


def read_files(store: DeltaStore, path: str, files: Iterable[str], columns: list[str]) -> pl.DataFrame:
    """The ``columns`` of the given data files (relative paths), concatenated; missing files are skipped.

    Columns a file lacks (added to the table later) come back as nulls. Partition columns are not
    in the files; callers that need them read the snapshot instead.
    """
    fs = lake_fs(store, path)
    frames = []
    for name in sorted(set(files)):
        try:
            with fs.open_input_file(name) as handle:
                parquet = pq.ParquetFile(handle)
                present = [c for c in columns if c in parquet.schema_arrow.names]
                frame = pl.from_arrow(parquet.read(columns=present))
        except (FileNotFoundError, OSError):
            continue  # purged meanwhile: nothing to read
        assert isinstance(frame, pl.DataFrame)
        frames.append(frame)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def raw_content_files(
    store: DeltaStore, path: str, files: Iterable[FileRecord], column: str, values: frozenset[str]
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

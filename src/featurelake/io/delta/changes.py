"""Which entities a commit of a feature table changed: what an incremental materialization must rewrite.

A Delta commit adds and removes whole files. An entity's latest row can change only if one of
its rows sits in a file the commit added or removed (a publish of new days, a backfill, a
rollback's restore), so the changed entities are the key values of those files: only the key
columns of only those files are read. A compaction rewrites files without changing rows: its
entities come out as changed and are written again with the same values (more work, never wrong).
"""

from __future__ import annotations

import polars as pl
from deltalake import DeltaTable

from featurelake.core.featureset import FeatureSet
from featurelake.io.delta.feature_reads import no_rows
from featurelake.io.delta.maintenance import relative_path
from featurelake.io.delta.store import DeltaStore


def changed_entities(store: DeltaStore, spec: FeatureSet, since: int, delta_version: int) -> pl.DataFrame | None:
    """The distinct entity keys whose rows changed from version ``since`` to ``delta_version``, or None when unknown.

    The files one snapshot holds and the other does not are what changed, however many commits
    lie between. None (the caller then materializes every entity) when ``since`` is not older,
    or a removed file can no longer be read (vacuumed).
    """
    if since >= delta_version:
        return None
    after = store.table(spec.table_path, delta_version)
    before = store.table(spec.table_path, since)
    if after is None or before is None:
        return None
    old, new = _files(before), _files(after)
    touched = [*(new - old), *(old - new)]
    keys = list(spec.entity_keys)
    if not touched:
        return no_rows(after, keys)
    uris = [f"{after.table_uri.rstrip('/')}/{path}" for path in sorted(touched)]
    try:
        frame = pl.scan_parquet(uris, storage_options=store.storage_options or None, hive_partitioning=False)
        return frame.select(keys).unique().collect()
    except (OSError, pl.exceptions.ComputeError):  # a removed file was vacuumed: changes unknown
        return None


def _files(table: DeltaTable) -> set[str]:
    """The data files of a loaded snapshot, relative to the table root."""
    return {relative_path(uri, table.table_uri) for uri in table.file_uris()}

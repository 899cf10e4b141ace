"""How many slabs a training set is joined in: an explicit count, or as many as a memory budget needs.

The estimate is made before anything is read, from the Delta log of each pinned table: the
rows of the files whose event-time span overlaps the spine's window, times the width of the
columns requested. It is an upper bound of what the reads keep (they keep only the spine's
entities), which is the safe side of a budget. What the process holds already (interpreter,
libraries, the spine the caller passed in) and the output's feature columns will hold is not
available to the slabs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from featurelake.core.spine_slabs import row_bytes, slab_count
from featurelake.io.delta.store import DeltaStore, Table
from featurelake.io.delta.time_windows import file_spans
from featurelake.retrieve.training import SetRequest, window

#: Bytes the first slab's read and join take whatever its size (reader threads and buffers, allocator
#: caches): measured ~85 MiB on a 1-row spine over a local table, polars 2.1.
SLAB_OVERHEAD_BYTES = 128 * 2**20


def plan_slabs(
    store: DeltaStore,
    spine: pl.DataFrame,
    spine_time: str,
    requests: Sequence[SetRequest],
    *,
    memory_budget: int | None,
    chunks: int | None,
    resident: int | None = None,
) -> tuple[int, tuple[SetRequest, ...]]:
    """The number of slabs, and the requests pinned to the versions every slab will read.

    Without a budget or a count: one slab, versions as requested (the read resolves the latest).
    ``resident`` is what the process holds already (default: its RSS now).

    Raises:
        ValueError: when the budget is not above what the process and the spine already hold.
    """
    if memory_budget is None and chunks is None:
        return 1, tuple(requests)
    pinned, feature_bytes = [], 0
    for request in requests:
        table = store.table(request.spec.table_path, request.delta_version)
        if table is None:  # the read names the missing table
            return 1, tuple(requests)
        pinned.append(replace(request, delta_version=table.version()))
        if chunks is None:
            feature_bytes += _reachable_rows(table, request, spine[spine_time]) * _width(request)
    if chunks is not None:
        return max(1, min(chunks, spine.height)), tuple(pinned)
    assert memory_budget is not None
    narrow = spine.select(*dict.fromkeys(k for r in requests for k in r.spec.entity_keys), spine_time)
    narrow_bytes = int(narrow.estimated_size())
    available = _available(memory_budget, spine.height, narrow_bytes, requests, resident)
    return slab_count(spine.height, narrow_bytes, feature_bytes, available), tuple(pinned)


def _available(budget: int, rows: int, narrow_bytes: int, requests: Sequence[SetRequest], resident: int | None) -> int:
    """What the budget leaves for one slab's join once everything held across slabs is counted.

    That is the process (which holds the spine already), the spine's keys and time in time order
    (the slabs, ``narrow_bytes``), and the output columns twice (as the slabs return them, then
    in spine order).
    """
    from featurelake.build.budget import resident_bytes  # imports the gate's module: only under a budget

    output = rows * row_bytes(f.dtype for r in requests for f in r.spec.features if f.name in r.columns)
    held = (resident_bytes() if resident is None else resident) + narrow_bytes + 2 * output + SLAB_OVERHEAD_BYTES
    if budget <= held:
        raise ValueError(
            f"retrieval memory budget {budget / 2**20:.0f} MiB leaves nothing for the join: the process, the spine "
            f"({rows} rows) and its output hold {held / 2**20:.0f} MiB already; raise "
            "FEATURELAKE_RETRIEVAL_MEMORY_BUDGET (or pass a larger memory_budget=), or pass a smaller spine"
        )
    return budget - held


def _reachable_rows(table: Table, request: SetRequest, times: pl.Series) -> int:
    """Rows of the files whose event-time span overlaps what the spine can reach (files without stats count)."""
    low, high = window(times, request.spec.ttl)
    spans = file_spans(table, request.spec.event_time)
    overlapping = pl.col("min_time").is_null() | ((pl.col("min_time") <= high) & (pl.col("max_time") >= low))
    return int(spans.filter(overlapping)["rows"].sum())


def _width(request: SetRequest) -> int:
    """Bytes of one feature row as a slab reads it: keys, event time and the requested features."""
    schema = request.spec.output_schema()
    return row_bytes(schema[c] for c in (*request.spec.key_columns, *request.columns))

"""A build's memory budget: how many source rows one chunk may read so that the process stays under it.

A chunk's peak memory grows with the rows it reads (the window, its sorted copy, the trailing
windows, the output); the process also holds its imports and a fixed overhead whatever the
chunk. ``FEATURELAKE_BUILD_MEMORY_BUDGET`` sets the budget; without it a build's chunks are
bounded by ``FEATURELAKE_BUILD_CHUNK_ROWS``, or not at all.
"""

from __future__ import annotations

import os

from featurelake.core.featureset import FeatureSet
from featurelake.core.spine_slabs import row_bytes
from featurelake.core.ties import BRONZE_TYPES
from featurelake.settings import Settings
from featurelake.validate.gate import load_library

#: Peak bytes a chunk holds per source row it reads, as a multiple of the row's own width: the
#: window, its sorted copy, the trailing windows and the output. Measured on customer_txn (12
#: windows, 43-byte rows): ~330 bytes per row on 3.3M-row windows, up to ~600 on small ones.
MEMORY_AMPLIFICATION = 16.0
#: Memory a build takes on top of its imports whatever the chunk size: the gate's first run, the
#: Delta writer, allocator caches (measured ~300 MiB after the first chunk of 500k rows).
CHUNK_OVERHEAD_BYTES = 384 * 2**20


def max_rows_for_budget(spec: FeatureSet, budget_bytes: int | None, resident_bytes: int) -> int | None:
    """How many source rows one chunk may read so that the build stays under ``budget_bytes`` of RSS.

    ``resident_bytes`` is what the process holds already (interpreter, libraries); the rest of the
    budget, less :data:`CHUNK_OVERHEAD_BYTES`, is divided by the in-memory width of a source row
    times :data:`MEMORY_AMPLIFICATION`.

    Raises:
        ValueError: when the budget is not above what the process already holds.
    """
    if budget_bytes is None:
        return None
    available = budget_bytes - resident_bytes - CHUNK_OVERHEAD_BYTES
    if available <= 0:
        raise ValueError(
            f"build memory budget {budget_bytes / 2**20:.0f} MiB leaves nothing for data: the process holds "
            f"{resident_bytes / 2**20:.0f} MiB and a build needs {CHUNK_OVERHEAD_BYTES / 2**20:.0f} MiB more "
            "whatever its chunks; raise FEATURELAKE_BUILD_MEMORY_BUDGET"
        )
    return max(1, int(available / (source_row_bytes(spec) * MEMORY_AMPLIFICATION)))


def source_row_bytes(spec: FeatureSet) -> int:
    """The in-memory width of one source row a build reads, with the bronze columns the tie rule reads."""
    read = [spec.source.columns[c] for c in spec.source_columns()]
    return row_bytes([*read, *BRONZE_TYPES])


def resident_bytes() -> int:
    """This process's current resident set size (Linux /proc; 0 where it is unavailable)."""
    try:
        pages = int(open("/proc/self/statm").read().split()[1])  # noqa: SIM115 - one read of a proc file
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def chunk_row_limit(spec: FeatureSet, settings: Settings) -> int | None:
    """The most source rows one chunk of a build may read under these settings (None: no limit).

    With a memory budget, the gate's library is imported first: it is part of the process's
    footprint, not the chunks' share. Without one, ``build_chunk_rows`` is the limit.
    """
    budget = settings.build_memory_budget
    if budget is None:
        return settings.build_chunk_rows
    load_library()
    return max_rows_for_budget(spec, budget, resident_bytes())

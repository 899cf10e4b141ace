"""Names shared by tables, events and tracking, so that every layer spells them alike."""

from __future__ import annotations

from featurelake.core.commits import Versioned

BRONZE_PREFIX = "bronze"
QUARANTINE_PREFIX = "quarantine"
#: Append-only: one row per completed erasure request (hashes only, never a raw value).
ERASURE_LOG_PATH = "_erasure/log"
#: Keyed hashes of erased subjects, applied at ingest so a re-ingested object cannot bring them back.
SUPPRESSIONS_PATH = "_erasure/suppressions"
#: Requests made for the erase deployment, kept only until they complete (they hold keyed hashes).
ERASURE_REQUESTS_PATH = "_erasure/requests"


def bronze_path(source: str) -> str:
    """The bronze table of a raw source, relative to the lake root."""
    return f"{BRONZE_PREFIX}/{source}"


def quarantine_path(source: str) -> str:
    """The quarantine table of a raw source, relative to the lake root."""
    return f"{QUARANTINE_PREFIX}/{source}"


def predictions_path(model: str) -> str:
    """The table of a model's scores, ``predictions/<model>`` (beside ``bronze/`` and ``features/``)."""
    return f"predictions/{model}"


def feature_table_path(name: str, version: int) -> str:
    """Where a feature set version's table lives, relative to the lake root."""
    return f"features/{name}/v{version}"


def feature_quarantine_path(name: str, version: int) -> str:
    """Where feature batches that failed their gate are kept for inspection, relative to the lake root."""
    return f"{QUARANTINE_PREFIX}/features/{name}/v{version}"


def feature_set_resource_id(spec: Versioned) -> str:
    """The Prefect event resource id of a feature set version."""
    return f"featurelake.feature-set.{spec.name}.v{spec.version}"


def bronze_resource_id(source: str) -> str:
    """The Prefect event resource id of a bronze table."""
    return f"featurelake.bronze-table.{source}"

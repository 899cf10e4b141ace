"""Feature definitions: specs as data, polars in, polars out. No I/O, no clock, no environment."""

from __future__ import annotations

from featurelake.core.featureset import FeatureSet
from features.customer_txn import CUSTOMER_TXN

FEATURE_SETS: dict[str, FeatureSet] = {fs.ref: fs for fs in (CUSTOMER_TXN,)}


def get_feature_set(name: str, version: int) -> FeatureSet:
    """Look a feature set up by name and version, listing the known ones when it is missing."""
    ref = f"{name}:v{version}"
    try:
        return FEATURE_SETS[ref]
    except KeyError:
        raise KeyError(f"unknown feature set {ref}; known: {sorted(FEATURE_SETS)}") from None

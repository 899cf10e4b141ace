"""The MLflow tags by which a model version names the data it was trained on.

These are not commit keys (those are in :mod:`featurelake.core.commits`): the retrain writes them
on its run and model version (:mod:`featurelake.train.records`), and lineage and vacuum read them
back to know which Delta versions a registered model still needs.
"""

from __future__ import annotations

from collections.abc import Mapping

#: The URI of the feature table whose publish triggered the training (tells one lake from another).
FEATURE_TABLE = "featurelake.feature_table"
#: Every feature set the training set read, pinned: ``name:vN@delta_version,...``.
FEATURE_SETS = "featurelake.feature_sets"
#: The bronze version of the labels (the spine) the training set read.
LABELS_VERSION = "featurelake.labels_version"
#: The label source and column, ``<source>.<column>``.
LABEL = "featurelake.label"


def pinned_feature_sets(tags: Mapping[str, str]) -> list[tuple[str, int]]:
    """The ``(ref, delta_version)`` pairs :data:`FEATURE_SETS` pins; malformed entries are skipped."""
    pairs = []
    for entry in tags.get(FEATURE_SETS, "").split(","):
        ref, _, version = entry.strip().rpartition("@")
        if ref and version.isdigit():
            pairs.append((ref, int(version)))
    return pairs


def in_lake(tags: Mapping[str, str], lake_uri: str) -> bool:
    """False for a model trained on another lake sharing this registry (say staging's).

    A model without :data:`FEATURE_TABLE` is assumed to be ours: keeping too much is the safe mistake.
    """
    table = tags.get(FEATURE_TABLE)
    return table is None or table.startswith(lake_uri.rstrip("/") + "/")

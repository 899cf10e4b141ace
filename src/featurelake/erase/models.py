"""Models trained on data an erasure removed: found from their pins, tagged in the registry.

A registered model version pins the feature table versions (and the labels' bronze version) it
was trained on; vacuum keeps their files so the training set can be read again. An erasure
deletes some of those files on purpose, so the model can no longer be reproduced. It is not
deleted or silently broken: it is tagged, so a person decides (retrain on the erased lake, or
retire it), and lineage shows why its training set is gone.
"""

from __future__ import annotations

from featurelake.core import model_tags
from featurelake.core.catalog import Catalog
from featurelake.core.naming import bronze_path
from featurelake.erase.physical import PurgePlan, snapshot_holds
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry
from featurelake.operate.vacuum import pinned_versions
from featurelake.settings import Settings

#: Model version tags an erasure sets.
AFFECTED = "featurelake.erasure.affected"
REQUESTS = "featurelake.erasure.requests"
NOTE = "featurelake.erasure.note"


def affected_models(settings: Settings, store: DeltaStore, found: Catalog, plan: PurgePlan, source: str) -> list[str]:
    """``name@version`` of every registered model version whose pinned data includes a file ``plan`` purges."""
    affected: set[str] = set()
    labels_files = plan.files.get(bronze_path(source), frozenset())
    for ref, spec in sorted(found.feature_sets.items()):
        files = plan.files.get(spec.table_path, frozenset())
        for found_version in registry.model_versions_naming(settings, ref):
            tags, name = found_version.tags, f"{found_version.name}@{found_version.version}"
            pins = pinned_versions([tags], ref, settings.lake_uri)
            if files and any(snapshot_holds(store, spec.table_path, v, files) for v in pins):
                affected.add(name)
            labels = _labels_from(tags, source)
            if labels is not None and labels_files and snapshot_holds(store, bronze_path(source), labels, labels_files):
                affected.add(name)
    return sorted(affected)


def _labels_from(tags: dict[str, str], source: str) -> int | None:
    """The labels' bronze version of a model trained on labels from ``source`` (else None)."""
    label, version = tags.get(model_tags.LABEL, ""), str(tags.get(model_tags.LABELS_VERSION, ""))
    return int(version) if label.split(".")[0] == source and version.isdigit() else None


def tag_affected(settings: Settings, models: list[str], request_id: str) -> None:
    """Tag each ``name@version``: affected by erasure request ``request_id`` (earlier requests kept)."""
    for model in models:
        name, _, version = model.rpartition("@")
        earlier = registry.model_version_tags(settings, name, version).get(REQUESTS, "")
        requests = sorted({r for r in earlier.split(",") if r} | {request_id})
        registry.tag_model_version(
            settings,
            name,
            version,
            {
                AFFECTED: "true",
                REQUESTS: ",".join(requests),
                NOTE: "trained on data an erasure removed: its training set can no longer be read back; retrain it",
            },
        )

"""Which table versions registered models still need: feature versions, and the bronze versions behind them.

A model version's tags pin the feature table versions it was trained on. Its lineage walks each
of those back to the bronze version the build read (``featurelake.bronze_version`` in the
publish commit) and reads bronze as of that version; the spine's labels are a bronze version
too (``featurelake.labels_version``, the table named in the run's manifest). Vacuum and log
cleanup keep all of them readable. Where the bronze version behind a pin cannot be told (a
commit that names none, a log entry already gone), the source is reported as unresolved and its
bronze table is left alone: keeping too much is the mistake that can still be undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from featurelake.core import commits, model_tags
from featurelake.core.catalog import Catalog
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import BRONZE_PREFIX
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry
from featurelake.lineage.models import lake_path
from featurelake.operate.vacuum import pinned_versions
from featurelake.settings import Settings

#: Delta operations that change no row: the version after one holds what the version before held.
NO_ROW_OPERATIONS = frozenset(
    {
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "ADD FEATURE",
        "SET COLUMN METADATA",
        "UPDATE TABLE METADATA",
        "FSCK",
    }
)


class UnresolvedPinError(LookupError):
    """The bronze version behind a pinned feature version cannot be told from the table's log."""


@dataclass(frozen=True)
class ModelPins:
    """The versions registered models need, per feature set and per raw source's bronze table."""

    #: Feature set reference → Delta versions of its table that models were trained on.
    features: Mapping[str, frozenset[int]] = field(default_factory=dict)
    #: Source name → bronze versions those feature versions were built from, and the labels' versions.
    bronze: Mapping[str, frozenset[int]] = field(default_factory=dict)
    #: Source name → why some pinned version's bronze version is unknown (its bronze table is kept whole).
    unresolved: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def model_pins(settings: Settings, store: DeltaStore, found: Catalog) -> ModelPins:
    """Read the registry once and resolve every pin of this lake's tables.

    Raises:
        Whatever the registry raises when it cannot be read: without it nothing can be vacuumed.
    """
    features: dict[str, frozenset[int]] = {}
    bronze: dict[str, set[int]] = {name: set() for name in found.sources}
    unresolved: dict[str, list[str]] = {}
    tagged: dict[tuple[str, str], Mapping[str, str]] = {}
    for ref, spec in sorted(found.feature_sets.items()):
        versions = registry.model_versions_naming(settings, ref)
        tagged |= {(v.name, v.version): v.tags for v in versions}
        features[ref] = frozenset(pinned_versions([v.tags for v in versions], ref, settings.lake_uri))
        for version, behind in _bronze_behind(store, spec, features[ref]).items():
            if isinstance(behind, int):
                bronze.setdefault(spec.source.name, set()).add(behind)
            elif behind is not None:
                unresolved.setdefault(spec.source.name, []).append(f"{ref}@{version}: {behind}")
    for (model, model_version), tags in sorted(tagged.items()):
        for source, labels_version in _labels_pins(settings, model, model_version, tags, sorted(bronze)):
            bronze.setdefault(source, set()).add(labels_version)
    return ModelPins(
        features=features,
        bronze={source: frozenset(versions) for source, versions in bronze.items()},
        unresolved={source: tuple(reasons) for source, reasons in unresolved.items()},
    )


def _bronze_behind(store: DeltaStore, spec: FeatureSet, versions: Iterable[int]) -> dict[int, int | str | None]:
    """Pinned feature version → the bronze version it was built from, why that is unknown, or None (no rows)."""
    table = store.table(spec.table_path)
    if table is None:
        return {}
    history = table.history()
    found: dict[int, int | str | None] = {}
    for version in sorted(v for v in versions if v <= table.version()):
        try:
            found[version] = bronze_version_behind(history, version)
        except UnresolvedPinError as error:
            found[version] = str(error)
    return found


def bronze_version_behind(history: Iterable[Mapping[str, Any]], version: int) -> int | None:
    """The bronze version whose rows a feature table version holds, from the commits that made it.

    A publish names it; a commit that changes no row (compaction, vacuum, a property or a
    constraint) holds what the version before it held; a restore holds what the version it
    restored held. Returns None for a version with no rows yet (the table's empty create).

    Raises:
        UnresolvedPinError: when the chain reaches a commit that changed rows without naming a
            bronze version, or a version whose log entry is gone.
    """
    by_version = {int(c["version"]): c for c in history}
    seen: set[int] = set()
    while version not in seen:
        seen.add(version)
        commit = by_version.get(version)
        if commit is None:
            raise UnresolvedPinError(f"commit {version} is no longer in the log")
        named = commits.source_bronze_version(commit)
        if named is not None:
            return named
        if commit.get(commits.OPERATION) == commits.Operation.CREATE_TABLE:
            return None
        version = _previous_content(commit, version)
    raise UnresolvedPinError(f"commits before {version} restore each other in a loop")


def _previous_content(commit: Mapping[str, Any], version: int) -> int:
    """The version whose rows ``commit`` left in place: the one it restored, or the one before it."""
    operation = str(commit.get("operation", ""))
    if operation == "RESTORE":
        restored = commit.get(commits.RESTORED_TO) or (commit.get("operationParameters") or {}).get("version")
        if restored is not None:
            return int(str(restored))
    if operation in NO_ROW_OPERATIONS or commit.get(commits.OPERATION) in commits.MAINTENANCE_OPERATIONS:
        return version - 1
    raise UnresolvedPinError(
        f"commit {version} ({operation or 'unknown operation'}) changed rows but names no bronze version"
    )


def _labels_pins(
    settings: Settings, name: str, version: str, tags: Mapping[str, str], sources: list[str]
) -> list[tuple[str, int]]:
    """The bronze table and version a model version's spine (labels) came from.

    The table is in the run's manifest. A model without one (registered by hand, or its
    artifacts gone) pins its labels version on every bronze table of the lake: too much kept.
    """
    labels_version = str(tags.get(model_tags.LABELS_VERSION, ""))
    if not labels_version.isdigit():
        return []
    if not model_tags.in_lake(tags, settings.lake_uri):
        return []  # a model of another lake sharing this registry
    manifest = registry.model_version_record(settings, name, version)["manifest"] or {}
    uri = (manifest.get("labels") or {}).get("table_uri")
    if uri is None:
        return [(source, int(labels_version)) for source in sources]
    try:
        path = lake_path(settings, str(uri))
    except ValueError:
        return []
    return [(path.removeprefix(f"{BRONZE_PREFIX}/"), int(labels_version))]

"""A safe vacuum: files older than the retention go, except those a registered model's versions read.

Vacuum is where versions are lost for good. delta-rs decides by age (files removed longer ago
than the retention), not by version, so a model's training data would disappear with age even
though the model can still be asked "what were you trained on". :func:`vacuum` therefore keeps
every file a version pinned by a registered MLflow model version reads, and checks delta-rs's
plan against its own list before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from featurelake.core import commits, model_tags
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta import maintenance
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry
from featurelake.io.revision import code_revision
from featurelake.settings import Settings


@dataclass(frozen=True)
class VacuumResult:
    """What a vacuum removed, and what it kept only because a registered model needs it."""

    #: The feature set (``name:vN``), or the lake path of another table (``bronze/transactions``).
    feature_set: str
    table_uri: str
    retention_hours: int
    dry_run: bool
    #: Versions of this table registered model versions were trained on (or, for bronze, built from).
    protected_versions: tuple[int, ...]
    #: Files removed (in a dry run: that would be), relative to the table root.
    removed: tuple[str, ...]
    #: Files old enough to remove, kept because a protected version reads them.
    kept: tuple[str, ...]
    #: Protected versions the table does not have (it was recreated since): nothing to keep for them.
    unknown_versions: tuple[int, ...] = ()


def protected_versions(settings: Settings, spec: FeatureSet) -> set[int]:
    """Delta versions of this feature table that some registered MLflow model version was trained on."""
    found = registry.model_versions_naming(settings, spec.ref)
    return pinned_versions([v.tags for v in found], spec.ref, settings.lake_uri)


def pinned_versions(tag_sets: Iterable[Mapping[str, str]], ref: str, lake_uri: str) -> set[int]:
    """The versions of feature set ``ref`` that model version tags pin, for models trained on this lake.

    A model names the set that triggered its training (``featurelake.feature_set`` with
    ``featurelake.delta_version``) and every set it read (``featurelake.feature_sets``:
    ``ref@version,...``). A model whose ``featurelake.feature_table`` lies in another lake (a
    registry shared by environments) pins nothing here; one without that tag is assumed to be
    ours, since keeping too much is the safe mistake.
    """
    versions: set[int] = set()
    for tags in tag_sets:
        if not model_tags.in_lake(tags, lake_uri):
            continue
        if tags.get(commits.FEATURE_SET) == ref and str(tags.get(commits.DELTA_VERSION, "")).isdigit():
            versions.add(int(tags[commits.DELTA_VERSION]))
        versions |= {version for name, version in model_tags.pinned_feature_sets(tags) if name == ref}
    return versions


def vacuum(
    store: DeltaStore,
    settings: Settings,
    spec: FeatureSet,
    retention: timedelta,
    *,
    dry_run: bool,
    allow_short_retention: bool = False,
    actor: str | None = None,
) -> VacuumResult:
    """Delete files removed from the table longer than ``retention`` ago, except those a model was trained on.

    The protected versions come from the MLflow registry (:func:`protected_versions`); see
    :func:`vacuum_table` for how they are kept.
    """
    return vacuum_table(
        store,
        spec.table_path,
        spec.ref,
        protected_versions(settings, spec),
        retention,
        dry_run=dry_run,
        allow_short_retention=allow_short_retention,
        metadata={commits.FEATURE_SET: spec.ref} | ({commits.ACTOR: actor} if actor else {}),
    )


def vacuum_table(
    store: DeltaStore,
    path: str,
    name: str,
    protected: set[int],
    retention: timedelta,
    *,
    dry_run: bool,
    allow_short_retention: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> VacuumResult:
    """Vacuum the table at ``path`` (called ``name`` in messages), keeping every file a ``protected`` version reads.

    The files of the protected versions are listed here, from the log, and the versions are
    passed to delta-rs as versions to keep. Before deleting, delta-rs's plan (a dry run on the
    same snapshot) is checked against that list, and the vacuum is refused if the two disagree:
    delta-rs calls its version guard experimental, and a wrong guess cannot be undone.

    Raises:
        ValueError: for a negative or (without ``allow_short_retention``) too short retention, or
            a protected version that can no longer be loaded (its files cannot be known).
        FileNotFoundError: when the table does not exist.
        RuntimeError: when delta-rs plans to delete a protected file (nothing is deleted) or did.
    """
    table = store.existing(path)
    present = sorted(v for v in protected if v <= table.version())
    needed = _files_needed_by(store, path, name, present)
    short = allow_short_retention
    candidates = maintenance.vacuum(table, retention, dry_run=True, allow_short_retention=short)
    removed = maintenance.vacuum(table, retention, keep_versions=present, dry_run=True, allow_short_retention=short)
    _refuse_protected(name, "would delete", removed, needed)
    if not dry_run and removed:
        removed = maintenance.vacuum(
            table,
            retention,
            keep_versions=present,
            dry_run=False,
            allow_short_retention=short,
            metadata=_vacuum_metadata(present, metadata or {}),
        )
        _refuse_protected(name, "deleted", removed, needed)
    return VacuumResult(
        feature_set=name,
        table_uri=store.uri(path),
        retention_hours=maintenance.retention_hours(retention),
        dry_run=dry_run,
        protected_versions=tuple(sorted(protected)),
        removed=tuple(removed),
        kept=tuple(sorted(set(candidates) & needed)),
        unknown_versions=tuple(sorted(protected - set(present))),
    )


def _files_needed_by(store: DeltaStore, path: str, name: str, versions: Iterable[int]) -> set[str]:
    """Every data file the given versions read: what must survive for them to stay readable.

    Raises:
        ValueError: naming a version that can no longer be loaded (its log entry was cleaned up):
            the files it needs are then unknown, and guessing could delete them.
    """
    needed: set[str] = set()
    for version in versions:
        try:
            snapshot = store.existing(path, version)
        except ValueError as error:
            raise ValueError(
                f"vacuum of {name}: version {version} is pinned by a registered model but cannot be loaded; "
                f"its files are unknown, so nothing is vacuumed ({error})"
            ) from error
        needed |= maintenance.data_files(snapshot)
    return needed


def _refuse_protected(name: str, verb: str, files: Iterable[str], needed: set[str]) -> None:
    """Stop before (or report after) delta-rs touches a file a protected version reads."""
    clash = sorted(set(files) & needed)
    if clash:
        raise RuntimeError(
            f"vacuum of {name}: delta-rs {verb} {len(clash)} file(s) a protected version reads, "
            f"e.g. {clash[0]}; report this (delta-rs keep_versions) and do not vacuum this table meanwhile"
        )


def _vacuum_metadata(protected: list[int], metadata: Mapping[str, str]) -> dict[str, str]:
    """The vacuum commit's audit: what it kept and which code ran it."""
    return {
        **metadata,
        commits.OPERATION: commits.Operation.VACUUM,
        commits.PROTECTED_VERSIONS: ",".join(map(str, protected)),
        commits.CODE_REVISION: code_revision(),
    }

"""Lineage: walk a registered model back to the raw objects its numbers came from.

Each hop reads the record the previous one left, never "the latest": the model version's run
logged the training-set manifest (feature tables pinned to Delta versions, the labels' bronze
version); each feature table commit names the bronze version its build read (the app
transaction and ``featurelake.bronze_version``); the bronze table read as of that version names
its raw objects by key and ETag. So the chain printed tomorrow names the same objects as today,
however much has landed since. The ingest log is the cross-check: an object bronze holds but
the log does not (or holds under another ETag) is reported, not hidden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from featurelake.core import catalog, commits
from featurelake.core import model_tags as tags
from featurelake.core.naming import bronze_path, feature_table_path
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY, ingest_log_path
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry, runs
from featurelake.lineage import render
from featurelake.lineage.records import BronzeVersion, FeatureVersion, RawObjectRef, TrainingSetRecord
from featurelake.settings import Settings


@dataclass(frozen=True)
class LineageChain:
    """model → training set → feature versions → bronze versions → raw objects."""

    model_name: str
    model_version: str
    run_id: str
    flow_run_id: str | None
    training_set: TrainingSetRecord
    warnings: tuple[str, ...]

    def raw_objects(self) -> set[tuple[str, str]]:
        """Every (key, ETag) the model depends on, features and labels alike."""
        bronzes = [f.bronze for f in self.training_set.feature_sets] + [self.training_set.labels]
        return {(o.key, o.etag) for b in bronzes if b is not None for o in b.objects}

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (times as ISO strings), for ``--json`` and other tools."""
        return jsonable(asdict(self))  # type: ignore[no-any-return]

    def render_text(self) -> str:
        """The chain as an indented tree, one line per hop and per raw object."""
        title = (
            f"model {self.model_name} v{self.model_version}  (run {self.run_id}, flow run {self.flow_run_id or '?'})"
        )
        return render.render_chain(title, self.training_set, self.warnings)


def model_lineage(settings: Settings, model_name: str, model_version: str) -> LineageChain:
    """Walk a registered model version back to its raw objects.

    Raises:
        KeyError: the model version is not registered.
    """
    record = registry.model_version_record(settings, model_name, model_version)
    store, warnings = DeltaStore(settings), []
    manifest = record["manifest"]
    if manifest is None:
        warnings.append(f"run {record['run_id']} logged no training_set/manifest.json; using the version's tags")
        manifest = _manifest_from_tags(settings, record["tags"])
    features = tuple(feature_version(settings, store, entry, warnings) for entry in manifest.get("feature_sets", []))
    labels = _labels(settings, store, manifest.get("labels"), warnings)
    spine = manifest.get("spine") or {}
    training = TrainingSetRecord(
        spine_rows=spine.get("rows"),
        spine_time_column=spine.get("time_column"),
        spine_time_range=(spine["min_time"], spine["max_time"]) if "min_time" in spine else None,
        feature_sets=features,
        labels=labels,
    )
    flow_run_id = record["run_tags"].get(commits.FLOW_RUN_ID)
    return LineageChain(model_name, record["version"], record["run_id"], flow_run_id, training, tuple(warnings))


def _manifest_from_tags(settings: Settings, version_tags: dict[str, str]) -> dict[str, Any]:
    """A minimal manifest from ``featurelake.feature_sets`` (``name:vN@delta,...``), for runs without one."""
    entries = []
    for ref, delta_version in tags.pinned_feature_sets(version_tags):
        name, _, set_version = ref.partition(":v")
        uri = settings.table_uri(feature_table_path(name, int(set_version)))
        entries.append({"ref": ref, "table_uri": uri, "delta_version": delta_version})
    return {"feature_sets": entries}


def feature_version(
    settings: Settings, store: DeltaStore, entry: dict[str, Any], warnings: list[str]
) -> FeatureVersion:
    """One pinned feature table: its commit's audit, its build run and the bronze version it read."""
    ref, uri, version = str(entry["ref"]), str(entry["table_uri"]), int(entry["delta_version"])
    commit = commit_at(store, lake_path(settings, uri), version)
    if commit is None:
        warnings.append(f"{ref}: {uri} has no commit {version} any more (vacuumed or recreated?)")
        commit = {}
    bronze_version = commits.source_bronze_version(commit)
    source = _source_of(settings, ref, warnings)
    bronze = None
    if source is not None and bronze_version is not None:
        bronze = bronze_objects(store, source, bronze_version, warnings)
    elif commit:
        warnings.append(f"{ref}: commit {version} of {uri} names no bronze version")
    return FeatureVersion(
        ref=ref,
        table_uri=uri,
        delta_version=version,
        committed_at=commit_time(commit),
        operation=commits.operation_of(commit),
        fingerprint=commit.get(commits.FINGERPRINT) or entry.get("fingerprint"),
        suite_hash=commit.get(commits.SUITE_HASH),
        code_revision=commit.get(commits.CODE_REVISION),
        flow_run_id=commit.get(commits.FLOW_RUN_ID),
        build_run_id=_build_run_id(settings, ref, version, commit.get(commits.FLOW_RUN_ID)),
        bronze=bronze,
    )


def _labels(
    settings: Settings, store: DeltaStore, entry: dict[str, Any] | None, warnings: list[str]
) -> BronzeVersion | None:
    """The spine's bronze table at the version the retrain read (manifests record it as ``labels``)."""
    if not entry:
        return None
    path = lake_path(settings, str(entry["table_uri"]))
    return bronze_objects(store, path.rsplit("/", 1)[-1], int(entry["delta_version"]), warnings)


def _build_run_id(settings: Settings, ref: str, delta_version: int, flow_run_id: str | None) -> str | None:
    """The MLflow build run of this publish; with several (a re-logged build), the one of the same flow run."""
    builds = runs.build_runs(settings, ref, delta_version)
    same_flow = [r for r in builds if flow_run_id and r["tags"].get(commits.FLOW_RUN_ID) == flow_run_id]
    chosen = (same_flow or builds)[:1]
    return str(chosen[0]["run_id"]) if chosen else None


def _source_of(settings: Settings, ref: str, warnings: list[str]) -> str | None:
    """The raw source a feature set reads; the commit does not name it, the spec in code does."""
    spec = catalog.load(settings.features_module).feature_sets.get(ref)
    if spec is None:
        warnings.append(f"{ref} is not defined in {settings.features_module!r} any more: its source is unknown")
        return None
    return spec.source.name


def bronze_objects(store: DeltaStore, source: str, version: int, warnings: list[str]) -> BronzeVersion:
    """The raw objects whose rows a bronze table holds at ``version``, cross-checked with the ingest log.

    Read from the rows as of that version, not from commit metadata: a backlog ingested in
    chunks spreads its objects over several commits, and a rewritten object replaces its rows.
    """
    path = bronze_path(source)
    logged = _ingest_log(store, source)
    try:
        rows = store.read(path, version, columns=[SOURCE_KEY, SOURCE_ETAG])
    except (FileNotFoundError, OSError) as error:  # an erasure purged files this version read
        objects = _from_commits(store, path, version, logged)
        warnings.append(
            f"bronze/{source}@{version} can no longer be read ({type(error).__name__}: its files were purged, e.g. by "
            "an erasure); its raw objects are listed from the ingest commits, without row counts"
        )
    else:
        counts = rows.group_by(SOURCE_KEY, SOURCE_ETAG).len("rows").sort(SOURCE_KEY, SOURCE_ETAG)
        objects = tuple(_cross_checked(key, etag, n, logged) for key, etag, n in counts.iter_rows())
    warnings.extend(f"bronze/{source}@{version}: {o.key} ({o.etag}): {o.note}" for o in objects if o.note)
    commit = commit_at(store, path, version)
    return BronzeVersion(source, store.uri(path), version, commit_time(commit or {}), objects)


def _from_commits(
    store: DeltaStore, path: str, version: int, logged: dict[str, tuple[str, int]]
) -> tuple[RawObjectRef, ...]:
    """The raw objects the ingest commits up to ``version`` name, at the ETag the ingest log has now."""
    keys = commits.keys_landed_between(store.history(path), None, version)
    note = "rows unknown: files purged"
    return tuple(RawObjectRef(k, logged.get(k, ("?", 0))[0], 0, k in logged, note) for k in keys)


def _ingest_log(store: DeltaStore, source: str) -> dict[str, tuple[str, int]]:
    """Key → (ETag, rows accepted) as the source's ingest log has it now."""
    path = ingest_log_path(source)
    if store.version(path) is None:
        return {}
    log = store.read(path, columns=[SOURCE_KEY, SOURCE_ETAG, "rows_accepted"])
    return {key: (etag, int(n)) for key, etag, n in log.iter_rows()}


def _cross_checked(key: str, etag: str, rows: int, logged: dict[str, tuple[str, int]]) -> RawObjectRef:
    """One object as bronze has it, with what the ingest log disagrees about (if anything)."""
    if key not in logged:
        return RawObjectRef(key, etag, rows, False, "not in the ingest log (an ingest stopped before logging it?)")
    logged_etag, logged_rows = logged[key]
    if logged_etag != etag:
        return RawObjectRef(key, etag, rows, False, f"rewritten since: the ingest log now has ETag {logged_etag}")
    if logged_rows != rows:
        return RawObjectRef(key, etag, rows, True, f"bronze holds {rows} rows, the ingest log says {logged_rows}")
    return RawObjectRef(key, etag, rows, True)


def lake_path(settings: Settings, uri: str) -> str:
    """A table URI as a path under the lake root (the only tables the store can open).

    Raises:
        ValueError: for a table outside the configured lake, naming both.
    """
    root = settings.lake_uri.rstrip("/") + "/"
    if not uri.startswith(root):
        raise ValueError(f"table {uri} is outside the configured lake {settings.lake_uri}; set FEATURELAKE_LAKE_URI")
    return uri.removeprefix(root).strip("/")


def commit_at(store: DeltaStore, path: str, version: int) -> dict[str, Any] | None:
    """The commit (metadata included) that created ``version`` of a table."""
    return next((c for c in store.history(path) if int(c["version"]) == version), None)


def commit_time(commit: dict[str, Any]) -> datetime | None:
    """When a commit was made (delta-rs stamps milliseconds), or None for a missing commit."""
    stamp = commit.get("timestamp")
    return None if stamp is None else datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)


def jsonable(value: Any) -> Any:
    """Datetimes as ISO strings and tuples as lists, through nested dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value

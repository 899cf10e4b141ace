"""Feature set status: what an on-call engineer asks first — is it published, fresh, valid, stable?

Everything is read back from the records the pipeline already leaves, so the answer cannot
disagree with them: the feature table's Delta log (last version, last publish), the spec's
``max_staleness`` (freshness), the build runs in MLflow (the gate's verdict, drift metrics) and
the feature quarantine table (a batch the gate blocked writes nothing else but that and an event).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from featurelake.core import commits
from featurelake.core.catalog import Catalog
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_quarantine_path
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import runs
from featurelake.settings import Settings

FRESH, STALE, NEVER_PUBLISHED, NO_LIMIT = "fresh", "STALE", "never published", "no limit"
_DRIFT_PREFIXES = {"psi": ("drift_psi.", "drift_psi_"), "ks": ("drift_ks.", "drift_ks_")}
_DRIFT_BREACHED = ("drift_breached_features", "drift_breached")
_DRIFT_JUDGED = "drift_judged_features"


@dataclass(frozen=True)
class ValidationStatus:
    """The gate's last verdict on a batch of this feature set, and where it is recorded."""

    passed: bool
    evaluated: int | None
    failed: int | None
    warned: int | None
    at: datetime | None
    delta_version: int | None
    bronze_version: int | None
    recorded_in: str  # an MLflow run id, or the quarantine table URI

    def describe(self) -> str:
        """One cell of the status table."""
        if not self.passed:
            counted = f"{self.failed} of {self.evaluated} failed" if self.evaluated else "blocked"
            return f"FAILED ({counted}, bronze v{self.bronze_version})"
        warned = f", {self.warned} warned" if self.warned else ""
        return f"passed ({self.evaluated} checks{warned})"


@dataclass(frozen=True)
class DriftStatus:
    """Drift statistics logged with a publish: per feature PSI and KS, and how many features breached."""

    run_id: str
    delta_version: int | None
    breached_features: int | None
    psi: dict[str, float] = field(default_factory=dict)
    ks: dict[str, float] = field(default_factory=dict)
    #: Features with enough comparable rows to be judged (None: not recorded, older runs).
    judged_features: int | None = None

    def describe(self) -> str:
        """One cell of the status table: the verdict and the worst feature by PSI."""
        if self.judged_features == 0:
            return "not judged (too few comparable rows; the build's drift report says why)"
        worst = max(self.psi.items(), key=lambda item: item[1], default=None)
        detail = f", max PSI {worst[1]:.3f} ({worst[0]})" if worst else ""
        if self.breached_features is None:
            return f"measured{detail}"
        verdict = f"{self.breached_features} breached" if self.breached_features else "none breached"
        return f"{verdict}{detail}"


@dataclass(frozen=True)
class StatusRow:
    """One feature set version's state."""

    ref: str
    table_uri: str
    last_version: int | None
    last_publish_version: int | None
    last_publish_time: datetime | None
    age: timedelta | None
    max_staleness: timedelta | None
    freshness: str
    validation: ValidationStatus | None
    drift: DriftStatus | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: times as ISO strings, durations in seconds."""
        return {k: _jsonable(v) for k, v in asdict(self).items()}


def feature_set_status(settings: Settings, catalog: Catalog, now: datetime) -> list[StatusRow]:
    """The status of every feature set version in the catalog, by name and version.

    ``now`` is explicit so that freshness is a pure function of the records and the caller's clock.

    Raises:
        ValueError: when ``now`` has no time zone (ages would be off by the local offset).
    """
    if now.tzinfo is None:
        raise ValueError(f"status: now={now.isoformat()} has no time zone; pass an aware datetime (UTC)")
    store = DeltaStore(settings)
    specs = sorted(catalog.feature_sets.values(), key=lambda s: (s.name, s.version))
    return [_status(settings, store, spec, now) for spec in specs]


def last_publish(store: DeltaStore, spec: FeatureSet) -> tuple[int, datetime] | None:
    """The Delta version and commit time of the latest publish (table creation, constraints and restores are not)."""
    publish = next((c for c in store.history(spec.table_path) if commits.is_publish(c)), None)
    published_at = _commit_time(publish)
    return None if publish is None or published_at is None else (int(publish["version"]), published_at)


def _status(settings: Settings, store: DeltaStore, spec: FeatureSet, now: datetime) -> StatusRow:
    history = store.history(spec.table_path)
    publish = next((c for c in history if commits.is_publish(c)), None)
    published_at = _commit_time(publish)
    age = None if published_at is None else max(now - published_at, timedelta(0))
    builds = runs.build_runs(settings, spec.ref, max_results=20)
    return StatusRow(
        ref=spec.ref,
        table_uri=store.uri(spec.table_path),
        last_version=int(history[0]["version"]) if history else None,
        last_publish_version=None if publish is None else int(publish["version"]),
        last_publish_time=published_at,
        age=age,
        max_staleness=spec.max_staleness,
        freshness=freshness(age, spec.max_staleness),
        validation=_latest_validation(builds, _blocked_batch(store, spec)),
        drift=next((d for r in builds if (d := drift_from_run(r)) is not None), None),
    )


def freshness(age: timedelta | None, max_staleness: timedelta | None) -> str:
    """Fresh / STALE against the spec's limit; never published; or no limit when the spec sets none."""
    if age is None:
        return NEVER_PUBLISHED
    if max_staleness is None:
        return NO_LIMIT
    return STALE if age > max_staleness else FRESH


def _latest_validation(builds: list[dict[str, Any]], blocked: ValidationStatus | None) -> ValidationStatus | None:
    """The newer of the last build run's verdict and the last batch the gate sent to quarantine."""
    logged = next((v for r in builds if (v := validation_from_run(r)) is not None), None)
    candidates = [v for v in (logged, blocked) if v is not None]
    return max(candidates, key=lambda v: v.at or datetime.min.replace(tzinfo=UTC), default=None)


def validation_from_run(run: dict[str, Any]) -> ValidationStatus | None:
    """The gate's verdict as a build run logged it (``validation_success`` and counts), if it did."""
    metrics = run["metrics"]
    if "validation_success" not in metrics:
        return None
    return ValidationStatus(
        passed=bool(metrics["validation_success"]),
        evaluated=_metric_int(metrics, "expectations_evaluated"),
        failed=_metric_int(metrics, "expectations_failed"),
        warned=_metric_int(metrics, "expectations_warned"),
        at=_from_ms(run.get("start_time_ms")),
        delta_version=_tag_int(run, commits.DELTA_VERSION),
        bronze_version=_int_or_none(run["params"].get("bronze_version")),
        recorded_in=str(run["run_id"]),
    )


def _blocked_batch(store: DeltaStore, spec: FeatureSet) -> ValidationStatus | None:
    """The last batch the gate blocked: its commit to the feature quarantine table, if any."""
    path = feature_quarantine_path(spec.name, spec.version)
    commit = next((c for c in store.history(path) if c.get(commits.OPERATION) != commits.Operation.CREATE_TABLE), None)
    if commit is None:
        return None
    rows = store.read(path, int(commit["version"]), columns=["_bronze_version", "_failed_expectations", "_flow_run_id"])
    mine = rows.filter(rows["_flow_run_id"] == str(commit.get(commits.FLOW_RUN_ID)))
    newest = (mine if mine.height else rows).sort("_bronze_version").tail(1).to_dicts()
    failed = _count_listed(newest[0]["_failed_expectations"]) if newest else None
    return ValidationStatus(
        passed=False,
        evaluated=None,
        failed=failed,
        warned=None,
        at=_commit_time(commit),
        delta_version=None,
        bronze_version=int(newest[0]["_bronze_version"]) if newest else None,
        recorded_in=store.uri(path),
    )


def drift_from_run(run: dict[str, Any]) -> DriftStatus | None:
    """Drift metrics of a build run (``drift_psi.<feature>``, ``drift_ks.<feature>``, breach count), if any."""
    metrics: dict[str, float] = run["metrics"]
    found = {kind: _by_feature(metrics, prefixes) for kind, prefixes in _DRIFT_PREFIXES.items()}
    breached = next((int(metrics[name]) for name in _DRIFT_BREACHED if name in metrics), None)
    if not found["psi"] and not found["ks"] and breached is None:
        return None
    judged = int(metrics[_DRIFT_JUDGED]) if _DRIFT_JUDGED in metrics else None
    version = _tag_int(run, commits.DELTA_VERSION)
    return DriftStatus(str(run["run_id"]), version, breached, **found, judged_features=judged)


def _by_feature(metrics: dict[str, float], prefixes: tuple[str, ...]) -> dict[str, float]:
    return {
        name.removeprefix(prefix): float(value)
        for name, value in metrics.items()
        for prefix in prefixes
        if name.startswith(prefix)
    }


def _count_listed(text: object) -> int | None:
    import json

    try:
        listed = json.loads(str(text))
    except ValueError:
        return None
    return len(listed) if isinstance(listed, list) else None


def _commit_time(commit: dict[str, Any] | None) -> datetime | None:
    return None if commit is None else _from_ms(commit.get("timestamp"))


def _from_ms(stamp: object) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(str(stamp)) / 1000, tz=UTC)


def _metric_int(metrics: dict[str, float], name: str) -> int | None:
    return int(metrics[name]) if name in metrics else None


def _tag_int(run: dict[str, Any], tag: str) -> int | None:
    return _int_or_none(run["tags"].get(tag))


def _int_or_none(value: object) -> int | None:
    return None if value is None or value == "" else int(str(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value

"""``featurelake plan``: the diff between feature sets in code and feature sets in the registry.

Pure: it compares specs with registry records and says what ``apply`` would record. The one
change it refuses is a changed fingerprint under an unchanged version, because the table of that
version already holds data computed by the registered logic: mixing two meanings under one
reference is how training sets silently go wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from featurelake.core.featureset import FeatureSet
from featurelake.core.fingerprint import (
    feature_fingerprint,
    fingerprint,
    fingerprint_before_tie_rule,
    fingerprint_document,
    schema_document,
)
from featurelake.core.ties import TIE_RULE

ACTIVE, RETIRED = "active", "retired"
ENGINE = f"polars {pl.__version__}"


class ChangeKind(StrEnum):
    """What ``apply`` does with a feature set version."""

    NEW = "new"  # a feature set name the registry has never seen
    BUMPED = "new version"  # a new version of a known feature set
    UNCHANGED = "unchanged"
    METADATA = "metadata"  # description, owner or tags changed; the logic did not
    RESTORED = "restored"  # back in code after being removed, with its registered logic
    REMOVED = "removed"  # registered but no longer in code: retired, its tables stay readable
    CHANGED_WITHOUT_BUMP = "changed without version bump"  # refused


@dataclass(frozen=True)
class RegistryRecord:
    """One row of the registry: the current state of a feature set version."""

    name: str
    version: int
    fingerprint: str
    schema: str  # JSON: column -> dtype
    features: str  # JSON: [{name, dtype, fingerprint, description, tags}]
    entity_keys: str  # JSON list
    source: str
    owner: str
    description: str
    tags: str  # JSON list
    status: str
    code_revision: str
    definition: str = "{}"  # JSON: the fingerprinted definition minus feature plans (grain, source columns, TTL)
    engine: str = ""  # the polars version that serialized the plans: a polars upgrade may re-word them

    @property
    def ref(self) -> str:
        """``name:vN``."""
        return f"{self.name}:v{self.version}"


@dataclass(frozen=True)
class Change:
    """One line of a plan."""

    kind: ChangeKind
    ref: str
    detail: str
    spec: FeatureSet | None = None
    record: RegistryRecord | None = None

    @property
    def is_error(self) -> bool:
        """Whether this change blocks ``apply``."""
        return self.kind is ChangeKind.CHANGED_WITHOUT_BUMP

    @property
    def needs_write(self) -> bool:
        """Whether ``apply`` records a registry row for this change."""
        return self.kind not in (ChangeKind.UNCHANGED, ChangeKind.CHANGED_WITHOUT_BUMP)


@dataclass(frozen=True)
class Plan:
    """All changes, errors first."""

    changes: tuple[Change, ...]

    @property
    def errors(self) -> tuple[Change, ...]:
        """Changes that block ``apply``."""
        return tuple(c for c in self.changes if c.is_error)

    @property
    def pending(self) -> tuple[Change, ...]:
        """Changes ``apply`` would record."""
        return tuple(c for c in self.changes if c.needs_write)


def record_for(spec: FeatureSet, status: str, code_revision: str) -> RegistryRecord:
    """The registry row describing a spec as it is in code now."""
    features = [
        {
            "name": f.name,
            "dtype": str(f.dtype),
            "fingerprint": feature_fingerprint(spec, f),
            "description": f.description,
            "tags": list(f.tags),
        }
        for f in spec.features
    ]
    return RegistryRecord(
        name=spec.name,
        version=spec.version,
        fingerprint=fingerprint(spec),
        schema=json.dumps(schema_document(spec)),
        features=json.dumps(features),
        entity_keys=json.dumps(list(spec.entity_keys)),
        source=spec.source.name,
        owner=spec.owner,
        description=spec.description,
        tags=json.dumps(list(spec.tags)),
        status=status,
        code_revision=code_revision,
        definition=json.dumps({k: v for k, v in fingerprint_document(spec).items() if k != "features"}),
        engine=ENGINE,
    )


def plan_changes(specs: list[FeatureSet], records: list[RegistryRecord], code_revision: str = "") -> Plan:
    """Compare code with the registry's current records (one per name and version)."""
    registered = {r.ref: r for r in records}
    known_names = {r.name for r in records}
    changes = [_compare(spec, registered.get(spec.ref), known_names, records, code_revision) for spec in specs]
    in_code = {spec.ref for spec in specs}
    changes += [
        Change(
            ChangeKind.REMOVED,
            r.ref,
            f"no longer defined in code; {r.ref} is retired, its tables stay readable",
            None,
            r,
        )
        for r in records
        if r.ref not in in_code and r.status == ACTIVE
    ]
    return Plan(tuple(sorted(changes, key=lambda c: (not c.is_error, c.ref))))


def _compare(
    spec: FeatureSet,
    record: RegistryRecord | None,
    known_names: set[str],
    records: list[RegistryRecord],
    code_revision: str,
) -> Change:
    current = record_for(spec, ACTIVE, code_revision)
    if record is None:
        if spec.name not in known_names:
            return Change(ChangeKind.NEW, spec.ref, f"new feature set ({len(spec.features)} features)", spec)
        versions = sorted(r.version for r in records if r.name == spec.name)
        return Change(ChangeKind.BUMPED, spec.ref, f"new version; registered versions: {versions}", spec)
    if record.fingerprint != current.fingerprint:
        return Change(ChangeKind.CHANGED_WITHOUT_BUMP, spec.ref, _explain_unbumped(spec, record, records), spec, record)
    if record.status != ACTIVE:
        return Change(ChangeKind.RESTORED, spec.ref, "defined in code again with its registered logic", spec, record)
    changed_metadata = [
        field
        for field in ("owner", "description", "tags", "features")
        if getattr(record, field) != getattr(current, field)
    ]
    if changed_metadata:
        return Change(ChangeKind.METADATA, spec.ref, f"{', '.join(changed_metadata)} changed", spec, record)
    return Change(ChangeKind.UNCHANGED, spec.ref, "matches the registry", spec, record)


def _explain_unbumped(spec: FeatureSet, record: RegistryRecord, records: list[RegistryRecord]) -> str:
    """Say what changed and what to do, naming features and columns."""
    next_version = max(r.version for r in records if r.name == spec.name) + 1
    if _only_the_tie_rule_is_new(spec, record):
        return (
            f"only the tie rule is new: {spec.ref} was registered before featurelake fingerprinted which of "
            f"the source rows sharing entity keys and event time wins (now {TIE_RULE}, see "
            f"docs/how-to/add-a-feature-set.md, section Ties) (fingerprint {record.fingerprint} -> "
            f"{fingerprint(spec)}). Its table {spec.table_path} may hold values the rule would pick differently "
            f"where such rows exist. Bump the version to {next_version} to rebuild it under the rule "
            "(a new table beside the old one)."
        )
    what = _changed_features(spec, record) + _changed_definition(spec, record)
    if not what:
        what = ["the definition changed"]
    if record.engine and record.engine != ENGINE:
        what.append(
            f"note: it was registered with {record.engine}, this is {ENGINE}; if you only upgraded polars, "
            "the plan's serialization may have changed, not your logic: check the table, then bump"
        )
    return (
        f"{'; '.join(what)} (fingerprint {record.fingerprint} -> {fingerprint(spec)}). "
        f"Its table {spec.table_path} holds data computed by the registered logic. "
        f"Bump the version to {next_version} (a new table beside the old one) or revert the change."
    )


def _only_the_tie_rule_is_new(spec: FeatureSet, record: RegistryRecord) -> bool:
    """Registered before the tie rule was fingerprinted, with logic otherwise unchanged."""
    return "tie_rule" not in json.loads(record.definition) and record.fingerprint == fingerprint_before_tie_rule(spec)


def _changed_features(spec: FeatureSet, record: RegistryRecord) -> list[str]:
    old = {f["name"]: f for f in json.loads(record.features)}
    new = {f["name"]: f for f in json.loads(record_for(spec, ACTIVE, "").features)}
    what = [f"feature {n!r} added" for n in new if n not in old]
    what += [f"feature {n!r} removed" for n in old if n not in new]
    what += [
        f"feature {n!r} dtype {old[n]['dtype']} -> {new[n]['dtype']}"
        for n in new
        if n in old and old[n]["dtype"] != new[n]["dtype"]
    ]
    what += [
        f"feature {n!r} logic changed"
        for n in new
        if n in old and old[n]["dtype"] == new[n]["dtype"] and old[n]["fingerprint"] != new[n]["fingerprint"]
    ]
    return what


def _changed_definition(spec: FeatureSet, record: RegistryRecord) -> list[str]:
    old, new = json.loads(record.definition), json.loads(record_for(spec, ACTIVE, "").definition)
    what = [
        f"{key} {old.get(key)} -> {new.get(key)}"
        for key in sorted(set(old) | set(new))
        if key not in ("output_schema", "tie_rule") and key in old and old.get(key) != new.get(key)
    ]
    what += [f"{key} {new[key]} (new)" for key in sorted(set(new) - set(old)) if key not in ("tie_rule", "tiebreak")]
    if old.get("tie_rule") != new.get("tie_rule"):
        what.append(f"tie rule {old.get('tie_rule') or 'none (registered before tie rules)'} -> {new.get('tie_rule')}")
    if "tiebreak" not in old and new.get("tiebreak"):
        what.append(f"tiebreak {new['tiebreak']} (new)")
    return what

"""Source contracts and the publishing gate on sample data: what CI runs before anything is deployed.

Sample files are laid out like the raw bucket, ``<source>/<any path>/<file>``. Each one goes
through the code ingestion runs (:func:`featurelake.ingest.objects.split_bytes`: parsing, the
contract, the PII policies, then the duplicate-key check across files), and the accepted rows
stand in for bronze. Every feature set is then computed from them with the build's transform
and gated by the build's suite (spec expectations plus the owner's, error or warn).

The convention for expected outcomes: a file under ``<source>/bad/`` must have at least one
row (or the whole file) quarantined; every other file must be accepted entirely. No S3,
Prefect, MLflow or secret is touched: PII columns are hashed with :data:`CHECK_PII_KEY`, a
published throwaway key, so check-mode hashes never match production ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from featurelake.core.catalog import Catalog
from featurelake.core.contracts import REASON_COLUMN, SourceContract
from featurelake.core.featureset import FeatureSet, compute_features
from featurelake.core.pii import key_id
from featurelake.core.refs import FeatureRef
from featurelake.ingest.bronze import ObjectBatch
from featurelake.ingest.duplicates import quarantine_repeated_keys
from featurelake.ingest.objects import split_bytes
from featurelake.io.aws.raw import RawObject
from featurelake.validate.gate import ValidationOutcome, validate_batch

#: Hashes PII columns in check mode. Public on purpose: it protects nothing and is never a secret.
CHECK_PII_KEY = b"featurelake-check-THROWAWAY-key: not a secret, check mode only"
CHECK_PII_KEY_LABEL = f"throwaway check-only key {key_id(CHECK_PII_KEY)} (public; hashes differ from production)"
BAD_DIR = "bad"


@dataclass(frozen=True)
class FileCheck:
    """One sample file through the contract: counts, quarantine reasons and what it was expected to do."""

    key: str
    expect_bad: bool
    rows_read: int
    accepted: int
    quarantined: int
    reasons: dict[str, int]

    @property
    def problem(self) -> str | None:
        """Why this file fails the check, if it does."""
        if self.expect_bad and self.quarantined == 0:
            return (
                f"{self.key}: is under {BAD_DIR}/ but the contract accepted all {self.accepted} row(s); "
                f"a sample under {BAD_DIR}/ must be quarantined"
            )
        if not self.expect_bad and self.quarantined:
            reasons = "; ".join(f"{n}x {reason}" for reason, n in self.reasons.items())
            return f"{self.key}: {self.quarantined} of {self.rows_read} row(s) quarantined ({reasons})"
        return None


@dataclass(frozen=True)
class FeatureSetCheck:
    """One feature set computed from the accepted sample rows and gated like a build."""

    ref: str
    source: str
    source_rows: int
    rows: int
    outcome: ValidationOutcome | None
    error: str | None = None

    @property
    def problem(self) -> str | None:
        """Why this feature set fails the check: it could not be computed, or an error-severity check failed."""
        if self.error is not None:
            return f"{self.ref}: {self.error}"
        if self.outcome is not None and not self.outcome.success:
            return f"{self.ref}: {len(self.outcome.failed)} blocking expectation(s) failed: {list(self.outcome.failed)}"
        return None


@dataclass(frozen=True)
class CheckReport:
    """Everything ``featurelake check`` found; it passes when :attr:`problems` is empty."""

    files: tuple[FileCheck, ...]
    feature_sets: tuple[FeatureSetCheck, ...]
    unknown: tuple[str, ...] = ()
    pii_key: str = CHECK_PII_KEY_LABEL

    @property
    def problems(self) -> list[str]:
        """Each reason to fail, one line each."""
        found = [f"{name}/: no source contract named {name!r} is declared" for name in self.unknown]
        found += [p for f in self.files if (p := f.problem) is not None]
        return found + [p for s in self.feature_sets if (p := s.problem) is not None]

    @property
    def passed(self) -> bool:
        """True when every file did what its place says and no feature set failed a blocking check."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (``featurelake check --json``)."""
        return {
            "passed": self.passed,
            "problems": self.problems,
            "pii_key": self.pii_key,
            "files": [
                {**vars(f), "expected": "bad" if f.expect_bad else "good", "ok": f.problem is None} for f in self.files
            ],
            "feature_sets": [_feature_set_json(s) for s in self.feature_sets],
        }


def _feature_set_json(check: FeatureSetCheck) -> dict[str, Any]:
    outcome = check.outcome
    failures = [] if outcome is None else [{**vars(f), "examples": list(f.examples)} for f in outcome.failures]
    return {
        "ref": check.ref,
        "source": check.source,
        "source_rows": check.source_rows,
        "rows": check.rows,
        "ok": check.problem is None,
        "error": check.error,
        "expectations_evaluated": None if outcome is None else outcome.evaluated,
        "suite_hash": None if outcome is None else outcome.suite_hash,
        "failures": failures,
    }


def read_samples(root: Path) -> dict[str, bytes]:
    """Every sample file below ``root``'s directories, keyed as in the raw bucket (``<source>/<path>``).

    Files directly in ``root`` (a README, a generator script) and hidden files are not samples.

    Raises:
        FileNotFoundError: when ``root`` is not a directory.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"no samples directory at {root}; lay sample files out as <source>/<file> there")
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and len(path.relative_to(root).parts) > 1
        and not any(p.startswith(".") for p in path.relative_to(root).parts)
    }


def select_feature_sets(found: Catalog, refs: Sequence[str]) -> list[FeatureSet]:
    """The named feature sets (``name:vN``), or every one the catalog holds, in reference order.

    Raises:
        ValueError: for a malformed reference.
        KeyError: for an unknown one, listing the known references.
    """
    if not refs:
        return [found.feature_sets[ref] for ref in sorted(found.feature_sets)]
    parsed = [FeatureRef.parse(ref) for ref in refs]
    return [found.get(ref.name, ref.version) for ref in parsed]


def check_samples(
    sources: Mapping[str, SourceContract],
    samples: Mapping[str, bytes],
    feature_sets: Sequence[FeatureSet],
    user_expectations: Mapping[str, list[dict[str, Any]]],
    now: dt.datetime,
) -> CheckReport:
    """Run the contracts over the samples, then each feature set's transform and gate over the accepted rows."""
    by_source: dict[str, dict[str, bytes]] = {}
    for key, data in samples.items():
        by_source.setdefault(key.split("/", 1)[0], {})[key] = data
    unknown = tuple(sorted(set(by_source) - set(sources)))
    files: list[FileCheck] = []
    bronze: dict[str, pl.DataFrame] = {}
    for name in sorted(set(by_source) & set(sources)):
        batches = split_source(sources[name], by_source[name], now)
        files += [_file_check(b) for b in batches]
        accepted = [b.accepted for b in batches if b.accepted.height]
        bronze[name] = pl.concat(accepted, how="diagonal_relaxed") if accepted else pl.DataFrame()
    checks = [
        _check_feature_set(spec, bronze.get(spec.source.name), user_expectations.get(spec.ref)) for spec in feature_sets
    ]
    return CheckReport(tuple(files), tuple(checks), unknown)


def split_source(contract: SourceContract, objects: Mapping[str, bytes], now: dt.datetime) -> list[ObjectBatch]:
    """One source's sample files as ingest splits them, in key order (as a backlog landing at once)."""
    batches = [
        split_bytes(contract, RawObject(key, _etag(data), len(data)), data, now, CHECK_PII_KEY)
        for key, data in sorted(objects.items())
    ]
    return quarantine_repeated_keys(contract, batches)


def _etag(data: bytes) -> str:
    """The ETag S3 gives a single-part upload of these bytes (an identifier, not a security measure)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _file_check(batch: ObjectBatch) -> FileCheck:
    parts = batch.obj.key.split("/")
    reasons = batch.quarantined.get_column(REASON_COLUMN).value_counts(sort=True) if batch.quarantined.height else None
    return FileCheck(
        key=batch.obj.key,
        expect_bad=len(parts) > 2 and parts[1] == BAD_DIR,
        rows_read=batch.rows_read,
        accepted=batch.accepted.height,
        quarantined=batch.quarantined.height,
        reasons={} if reasons is None else {str(r): int(n) for r, n in reasons.iter_rows()},
    )


def _check_feature_set(
    spec: FeatureSet, source: pl.DataFrame | None, user_expectations: list[dict[str, Any]] | None
) -> FeatureSetCheck:
    name = spec.source.name
    if source is None:
        return FeatureSetCheck(spec.ref, name, 0, 0, None, f"no sample files under {name}/ for source {name!r}")
    if source.height == 0:
        return FeatureSetCheck(spec.ref, name, 0, 0, None, f"the contract accepted no sample row of source {name!r}")
    try:
        features = compute_features(spec, source)
        outcome = validate_batch(spec, features, source.height, user_expectations)
    except ValueError as error:  # a source lacking columns, a user expectation GX does not know
        return FeatureSetCheck(spec.ref, name, source.height, 0, None, str(error))
    return FeatureSetCheck(spec.ref, name, source.height, features.height, outcome)

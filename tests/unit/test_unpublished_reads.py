"""Reads of a feature table version before its first publish say so, naming the first published version.

A build's first commits create the empty table and add its CHECK constraints: reading them used
to return zero rows as if that were the feature set. A lake on local disk, written the way a
build writes (create, constraints, publish), checks every read path: FeatureStore.read by
version and by time, lookup and training-set pins, and the CLI's one-line error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from featurelake.cli.main import app
from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.core.featureset import compute_features
from featurelake.io.delta.feature_tables import (
    ensure_check_constraints,
    read_feature_table,
    write_feature_table,
)
from featurelake.io.delta.published import UnpublishedVersionError
from featurelake.io.delta.registry import FeatureRegistry
from featurelake.io.delta.store import DeltaStore
from featurelake.local import synthetic
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings, get_settings
from features.customer_txn import CUSTOMER_TXN

REF = CUSTOMER_TXN.ref
FEATURES = compute_features(CUSTOMER_TXN, synthetic.generate(customers=40, days=2).transactions)


def _lake(tmp_path: Path) -> DeltaStore:
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    FeatureRegistry(store).ensure_registered(CUSTOMER_TXN, "rev", actor="test")
    return store


def _prepared(store: DeltaStore) -> int:
    """Create the table and add its constraints, as a build does before its first publish; the last version."""
    ensure_check_constraints(store, CUSTOMER_TXN, check_constraints(CUSTOMER_TXN), FEATURES.clear())
    version = store.version(CUSTOMER_TXN.table_path)
    assert version is not None
    return version


def _publish(store: DeltaStore) -> int:
    metadata = commits.publish_metadata(REF, 1, {}, rows=FEATURES.height)
    return write_feature_table(store, CUSTOMER_TXN, FEATURES, metadata=metadata)


def test_versions_before_the_first_publish_are_refused_by_every_read(tmp_path: Path) -> None:
    store = _lake(tmp_path)
    before = _prepared(store)
    published = _publish(store)
    api = FeatureStore(store, [CUSTOMER_TXN])
    expected = rf"{REF} version {before} comes before the first publish, version {published}: .*add-constraints"

    with pytest.raises(UnpublishedVersionError, match=expected):
        api.read(REF, delta_version=before)
    with pytest.raises(UnpublishedVersionError, match=f"read version {published} or later"):
        api.read(REF, delta_version=0)
    created = store.history(CUSTOMER_TXN.table_path)[-2]  # the constraints commit, oldest first
    at = datetime.fromtimestamp(int(created["timestamp"]) / 1000, tz=UTC) + timedelta(microseconds=500)
    with pytest.raises(UnpublishedVersionError, match=r"its version at"):
        api.read(REF, as_of=at)
    entities = FEATURES.select("customer_id").unique().head(3)
    with pytest.raises(UnpublishedVersionError, match=f"first publish, version {published}"):
        api.lookup(entities, [f"{REF}:amount_sum_24h"], pins={REF: before})
    spine = FEATURES.select("customer_id", "event_time").head(5)
    with pytest.raises(UnpublishedVersionError, match=f"first publish, version {published}"):
        api.get_training_set(spine, [f"{REF}:amount_sum_24h"], pins={REF: before})

    assert api.read(REF, delta_version=published).frame.height == FEATURES.height
    assert api.read(REF).frame.height == FEATURES.height


def test_a_table_never_published_says_so_and_rows_written_otherwise_stay_readable(tmp_path: Path) -> None:
    store = _lake(tmp_path)
    _prepared(store)
    with pytest.raises(UnpublishedVersionError, match=r"has no publish yet: .*build it first"):
        read_feature_table(store, CUSTOMER_TXN)
    other = DeltaStore(Settings(lake_uri=str(tmp_path / "other")))
    write_feature_table(other, CUSTOMER_TXN, FEATURES, metadata={"written_by": "a migration"})
    assert read_feature_table(other, CUSTOMER_TXN).frame.height == FEATURES.height


def test_the_cli_prints_one_line_naming_the_first_published_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _lake(tmp_path)
    _prepared(store)
    published = _publish(store)
    monkeypatch.setenv("FEATURELAKE_LAKE_URI", str(tmp_path / "lake"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["read", REF, "--version", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"before the first publish, version {published}" in result.output
    assert "Traceback" not in result.output

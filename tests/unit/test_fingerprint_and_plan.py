"""Fingerprints move with logic and only with logic; plan refuses changed logic under an unchanged version."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import polars as pl
import pytest

from featurelake.core import fingerprint as fingerprint_module
from featurelake.core.catalog import discover
from featurelake.core.featureset import Feature, FeatureSet
from featurelake.core.fingerprint import (
    UnstableFeatureError,
    fingerprint,
    fingerprint_before_tie_rule,
    fingerprint_document,
)
from featurelake.core.plan import ACTIVE, RETIRED, ChangeKind, RegistryRecord, plan_changes, record_for
from featurelake.core.refs import FeatureRef
from features.customer_txn import CUSTOMER_TXN
from features.merchant_txn import MERCHANT_TXN
from features.sources import TRANSACTIONS


def _with_feature(spec: FeatureSet, name: str, expr: pl.Expr, **changes: object) -> FeatureSet:
    features = tuple(
        dataclasses.replace(f, expr=expr.alias(name), **changes) if f.name == name else f for f in spec.features
    )
    return dataclasses.replace(spec, features=features)


def test_fingerprint_is_stable_across_builds_and_formatting() -> None:
    inline = pl.col("amount").rolling_sum_by("event_time", "7d")
    formatted = pl.col("amount").rolling_sum_by(  # the same logic, laid out and commented differently
        "event_time",
        "7d",
    )
    assert fingerprint(CUSTOMER_TXN) == fingerprint(dataclasses.replace(CUSTOMER_TXN))
    assert fingerprint(_with_feature(CUSTOMER_TXN, "amount_sum_7d", inline)) == fingerprint(CUSTOMER_TXN)
    assert fingerprint(_with_feature(CUSTOMER_TXN, "amount_sum_7d", formatted)) == fingerprint(CUSTOMER_TXN)


def test_fingerprint_ignores_what_does_not_change_the_data() -> None:
    relabelled = dataclasses.replace(
        CUSTOMER_TXN,
        description="another description",
        owner="someone-else",
        tags=("x",),
        lookback=timedelta(days=9),
        features=tuple(
            dataclasses.replace(f, description="d", tags=("pii",), min_value=None) for f in CUSTOMER_TXN.features
        ),
    )
    assert fingerprint(relabelled) == fingerprint(CUSTOMER_TXN)


@pytest.mark.parametrize(
    "changed",
    [
        _with_feature(CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_sum_by("event_time", "6d")),
        _with_feature(CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_mean_by("event_time", "7d")),
        _with_feature(CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_sum_by("event_time", "7d") * 1),
        _with_feature(
            CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_sum_by("event_time", "7d"), dtype=pl.Float32()
        ),
        dataclasses.replace(CUSTOMER_TXN, ttl=timedelta(days=3)),
        dataclasses.replace(CUSTOMER_TXN, features=CUSTOMER_TXN.features[:-1]),
        dataclasses.replace(CUSTOMER_TXN, entity_keys=("customer_id", "merchant_id")),
        dataclasses.replace(
            CUSTOMER_TXN,
            source=dataclasses.replace(TRANSACTIONS, columns={**TRANSACTIONS.columns, "amount": pl.Float32()}),
        ),
    ],
    ids=["window", "aggregation", "arithmetic", "dtype", "ttl", "dropped-feature", "grain", "source-type"],
)
def test_fingerprint_changes_with_any_change_of_logic(changed: FeatureSet) -> None:
    assert fingerprint(changed) != fingerprint(CUSTOMER_TXN)


def test_python_functions_are_refused_because_they_cannot_be_fingerprinted() -> None:
    udf = _with_feature(
        CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").map_elements(lambda x: x, return_dtype=pl.Float64)
    )
    with pytest.raises(UnstableFeatureError, match=r"customer_txn:v1, feature 'amount_sum_7d'.*Python function"):
        fingerprint(udf)


def test_specs_with_mistakes_fail_at_definition_naming_the_problem() -> None:
    with pytest.raises(
        ValueError, match=r"broken:v1 is invalid: .*source 'transactions' has no column\(s\) \['shop'\]"
    ):
        dataclasses.replace(CUSTOMER_TXN, name="broken", entity_keys=("shop",))
    with pytest.raises(ValueError, match=r"feature 'x' reads column\(s\) \['amount_eur'\]"):
        dataclasses.replace(CUSTOMER_TXN, features=(Feature("x", pl.col("amount_eur").sum(), pl.Float64(), "x"),))
    with pytest.raises(ValueError, match=r"declared twice"):
        dataclasses.replace(CUSTOMER_TXN, features=CUSTOMER_TXN.features[:1] * 2)


def test_plan_of_an_empty_registry_lists_every_feature_set_as_new() -> None:
    plan = plan_changes([CUSTOMER_TXN, MERCHANT_TXN], [])
    assert [(c.ref, c.kind) for c in plan.changes] == [
        ("customer_txn:v1", ChangeKind.NEW),
        ("merchant_txn:v1", ChangeKind.NEW),
    ]
    assert not plan.errors
    assert len(plan.pending) == 2


def test_plan_refuses_a_change_without_a_bump_and_says_what_and_what_to_do() -> None:
    records = [record_for(CUSTOMER_TXN, ACTIVE, "abc")]
    changed = _with_feature(CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_sum_by("event_time", "6d"))

    plan = plan_changes([changed], records)

    (error,) = plan.errors
    assert error.kind is ChangeKind.CHANGED_WITHOUT_BUMP
    assert error.ref == "customer_txn:v1"
    assert "feature 'amount_sum_7d' logic changed" in error.detail
    assert "Bump the version to 2" in error.detail
    assert "features/customer_txn/v1" in error.detail


def test_a_bump_is_a_new_version_beside_the_old_one() -> None:
    records = [record_for(CUSTOMER_TXN, ACTIVE, "abc")]
    v2 = dataclasses.replace(
        _with_feature(CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_sum_by("event_time", "6d")), version=2
    )

    plan = plan_changes([CUSTOMER_TXN, v2], records)

    assert {(c.ref, c.kind) for c in plan.changes} == {
        ("customer_txn:v1", ChangeKind.UNCHANGED),
        ("customer_txn:v2", ChangeKind.BUMPED),
    }
    assert not plan.errors


def test_metadata_changes_removed_and_restored_versions() -> None:
    records = [record_for(CUSTOMER_TXN, ACTIVE, "abc"), record_for(MERCHANT_TXN, ACTIVE, "abc")]
    reowned = dataclasses.replace(CUSTOMER_TXN, owner="risk-team")

    plan = plan_changes([reowned], records)

    assert {(c.ref, c.kind) for c in plan.changes} == {
        ("customer_txn:v1", ChangeKind.METADATA),
        ("merchant_txn:v1", ChangeKind.REMOVED),
    }
    retired = [record_for(MERCHANT_TXN, RETIRED, "abc")]
    assert plan_changes([MERCHANT_TXN], retired).changes[0].kind is ChangeKind.RESTORED
    assert plan_changes([], retired).changes == ()


def test_feature_references_parse_or_explain_the_expected_form() -> None:
    assert FeatureRef.parse("customer_txn:v2") == FeatureRef("customer_txn", 2)
    assert FeatureRef.parse(" customer_txn:v2:amount_sum_7d ") == FeatureRef("customer_txn", 2, "amount_sum_7d")
    assert str(FeatureRef.parse("customer_txn:v2:amount_sum_7d")) == "customer_txn:v2:amount_sum_7d"
    for bad in ("customer_txn", "customer_txn:2", "customer_txn:v0", "customer_txn:v1:", "a:v1:b:c"):
        with pytest.raises(ValueError, match="expected '<feature_set>:v<version>'"):
            FeatureRef.parse(bad)


def test_the_catalog_finds_every_feature_set_in_the_package() -> None:
    catalog = discover("features")
    assert set(catalog.feature_sets) == {"customer_txn:v1", "merchant_txn:v1"}
    assert catalog.defined_in["merchant_txn:v1"] == "features.merchant_txn"
    assert set(catalog.sources) == {"transactions", "fraud_labels"}
    assert catalog.get("customer_txn", 1) is CUSTOMER_TXN
    with pytest.raises(KeyError, match=r"unknown feature set customer_txn:v9; known: \['customer_txn:v1'"):
        catalog.get("customer_txn", 9)


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Python's hash seed must not leak into a fingerprint (a set literal in an expression would)."""
    import os
    import subprocess
    import sys

    script = (
        "from featurelake.core.catalog import discover; from featurelake.core.fingerprint import fingerprint; "
        "print(sorted((r, fingerprint(s)) for r, s in discover('features').feature_sets.items()))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1, f"fingerprints differ between processes: {outputs}"


def test_an_unbumped_change_after_a_polars_upgrade_says_so() -> None:
    registered = dataclasses.replace(
        record_for(CUSTOMER_TXN, ACTIVE, "abc"), engine="polars 1.0.0", fingerprint="0" * 16
    )

    (error,) = plan_changes([CUSTOMER_TXN], [registered]).errors

    assert "registered with polars 1.0.0, this is polars " in error.detail
    assert "if you only upgraded polars" in error.detail


def test_tie_rule_is_part_of_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which of tied source rows wins changes published values: the rule and the declared tiebreak are logic."""
    document = fingerprint_document(CUSTOMER_TXN)
    assert (document["tie_rule"], document["tiebreak"]) == ("tie-rule/v1", [])
    by_merchant = dataclasses.replace(CUSTOMER_TXN, tiebreak=("merchant_id",))
    by_txn = dataclasses.replace(CUSTOMER_TXN, tiebreak=("txn_id",))
    by_both = dataclasses.replace(CUSTOMER_TXN, tiebreak=("txn_id", "merchant_id"))
    assert len({fingerprint(s) for s in (CUSTOMER_TXN, by_merchant, by_txn, by_both)}) == 4
    before = fingerprint(CUSTOMER_TXN)
    monkeypatch.setattr(fingerprint_module, "TIE_RULE", "tie-rule/v2")
    assert fingerprint(CUSTOMER_TXN) != before


def _registered_before_the_tie_rule(spec: FeatureSet) -> RegistryRecord:
    record = record_for(spec, ACTIVE, "abc")
    definition = {k: v for k, v in json.loads(record.definition).items() if k not in ("tie_rule", "tiebreak")}
    return dataclasses.replace(record, definition=json.dumps(definition), fingerprint=fingerprint_before_tie_rule(spec))


def test_a_lake_registered_before_the_tie_rule_is_told_the_rule_is_new_and_to_bump() -> None:
    (error,) = plan_changes([CUSTOMER_TXN], [_registered_before_the_tie_rule(CUSTOMER_TXN)]).errors

    assert error.kind is ChangeKind.CHANGED_WITHOUT_BUMP  # still refused: the table may hold other winners
    assert error.detail.startswith("only the tie rule is new: customer_txn:v1 was registered before")
    assert "tie-rule/v1" in error.detail
    assert "Bump the version to 2 to rebuild it under the rule" in error.detail


def test_a_real_change_under_an_old_registration_is_still_named() -> None:
    old = _registered_before_the_tie_rule(CUSTOMER_TXN)
    changed = _with_feature(CUSTOMER_TXN, "amount_sum_7d", pl.col("amount").rolling_sum_by("event_time", "6d"))
    with_tiebreak = dataclasses.replace(CUSTOMER_TXN, tiebreak=("txn_id",))

    (error,) = plan_changes([changed], [old]).errors
    assert "feature 'amount_sum_7d' logic changed" in error.detail
    assert "tie rule none (registered before tie rules) -> tie-rule/v1" in error.detail
    assert "only the tie rule is new" not in error.detail
    (error,) = plan_changes([with_tiebreak], [old]).errors
    assert "tiebreak ['txn_id'] (new)" in error.detail
    assert "source_columns" in error.detail  # txn_id is read now

"""The core of ``featurelake check``: sample files through ingest's split, feature sets through the build's gate.

The contract part runs without Great Expectations (no feature sets); the gate part validates
the example samples once per feature set.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
from pathlib import Path

import polars as pl
import pytest

from featurelake.core import catalog
from featurelake.core.pii import hmac_hex
from featurelake.validate.gate import load_user_expectations
from featurelake.validate.samples import (
    CHECK_PII_KEY,
    CheckReport,
    check_samples,
    read_samples,
    select_feature_sets,
    split_source,
)
from features.customer_txn import CUSTOMER_TXN
from features.sources import SOURCES, TRANSACTIONS
from tests.catalogs.strict import STRICT

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
GOOD_CSV = "transactions/day=2026-11-04/part-0.csv"
MALFORMED_CSV = "transactions/bad/day=2026-11-02-part-0.csv"


def _contracts_only(objects: dict[str, bytes]) -> CheckReport:
    return check_samples(SOURCES, objects, [], {}, NOW)


def test_read_samples_keys_files_as_in_the_raw_bucket_and_skips_top_level_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "transactions" / "day=1").mkdir(parents=True)
    (tmp_path / "transactions" / "day=1" / "a.csv").write_bytes(b"x")
    (tmp_path / "transactions" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "README.md").write_text("about the samples")
    assert read_samples(tmp_path) == {"transactions/day=1/a.csv": b"x"}
    with pytest.raises(FileNotFoundError, match="no samples directory"):
        read_samples(tmp_path / "missing")


def test_the_example_samples_pass_their_contracts_and_bad_ones_are_quarantined_with_reasons() -> None:
    report = _contracts_only(read_samples(SAMPLES))
    assert report.passed, report.problems
    by_key = {f.key: f for f in report.files}
    assert {k.split("/")[0] for k in by_key} == {"transactions", "fraud_labels"}
    for file in report.files:
        assert file.rows_read == file.accepted + file.quarantined
        assert file.expect_bad == file.key.startswith("transactions/bad/")
    assert by_key[MALFORMED_CSV].reasons == {"amount: not a valid Float64": 1, "customer_id: required but null": 1}
    assert by_key[MALFORMED_CSV].accepted > 0  # the good rows of a partly bad file land, as in ingest
    assert "undeclared column(s) ['backup_email']" in next(iter(by_key["transactions/bad/new-column.csv"].reasons))
    assert "corrupt parquet" in next(iter(by_key["transactions/bad/truncated.parquet"].reasons))


def test_a_good_file_with_a_bad_row_and_a_bad_file_that_passes_both_fail() -> None:
    samples = read_samples(SAMPLES)
    broken = {
        GOOD_CSV: samples[MALFORMED_CSV],  # rows the contract rejects, where good files live
        "transactions/bad/fine.csv": samples[GOOD_CSV],  # a "bad" sample the contract accepts whole
    }
    report = _contracts_only(broken)
    assert not report.passed
    assert len(report.problems) == 2
    quarantined, accepted = report.problems
    assert quarantined.startswith("transactions/bad/fine.csv: is under bad/ but the contract accepted all")
    assert accepted.startswith(f"{GOOD_CSV}: 2 of 77 row(s) quarantined (")
    assert "1x amount: not a valid Float64" in accepted


def test_a_file_repeating_another_files_rows_is_quarantined_as_ingest_would() -> None:
    samples = read_samples(SAMPLES)
    resent = {GOOD_CSV: samples[GOOD_CSV], "transactions/day=2026-11-04/part-1-resent.csv": samples[GOOD_CSV]}
    report = _contracts_only(resent)
    (problem,) = report.problems
    assert problem.startswith("transactions/day=2026-11-04/part-1-resent.csv: 83 of 83 row(s) quarantined")
    assert f"already ingested from {GOOD_CSV}" in problem


def test_an_undeclared_source_directory_fails_the_check() -> None:
    report = _contracts_only({"transaction/typo.csv": b"txn_id\nt1\n"})
    assert report.problems == ["transaction/: no source contract named 'transaction' is declared"]


def test_pii_is_protected_with_the_throwaway_key_by_the_ingest_code() -> None:
    data = read_samples(SAMPLES)[GOOD_CSV]
    (batch,) = split_source(TRANSACTIONS, {GOOD_CSV: data}, NOW)
    raw = pl.read_csv(io.BytesIO(data), infer_schema=False)
    assert "ip_address" not in batch.accepted.columns
    first_email = raw["customer_email"][0]
    assert batch.accepted["customer_email"][0] == hmac_hex(CHECK_PII_KEY, first_email)
    assert batch.accepted["card_number"][0] == "*" * 12 + raw["card_number"][0][-4:]
    assert batch.obj.key == GOOD_CSV
    assert batch.obj.size == len(data)


def test_feature_sets_without_sample_rows_fail_rather_than_pass_unchecked() -> None:
    samples = read_samples(SAMPLES)
    no_files = check_samples(SOURCES, {}, [CUSTOMER_TXN], {}, NOW)
    assert no_files.problems == ["customer_txn:v1: no sample files under transactions/ for source 'transactions'"]
    only_bad = {k: v for k, v in samples.items() if k.startswith("transactions/bad/") and "csv" not in k}
    nothing_accepted = check_samples(SOURCES, only_bad, [CUSTOMER_TXN], {}, NOW)
    assert nothing_accepted.problems == [
        "customer_txn:v1: the contract accepted no sample row of source 'transactions'"
    ]


def test_select_feature_sets_names_unknown_and_malformed_references() -> None:
    found = catalog.discover("features")
    assert [s.ref for s in select_feature_sets(found, [])] == ["customer_txn:v1", "merchant_txn:v1"]
    assert select_feature_sets(found, ["customer_txn:v1"]) == [CUSTOMER_TXN]
    with pytest.raises(KeyError, match=r"unknown feature set customer_txn:v9"):
        select_feature_sets(found, ["customer_txn:v9"])
    with pytest.raises(ValueError, match="bad feature reference"):
        select_feature_sets(found, ["customer_txn"])


def test_the_gate_passes_the_example_sets_and_blocks_a_spec_bound_and_an_owner_expectation() -> None:
    gated = catalog.discover("tests.catalogs.gated")
    spec = gated.get("customer_txn_gated", 1)
    expectations = {spec.ref: load_user_expectations(gated.expectations_path(spec))}
    report = check_samples(SOURCES, read_samples(SAMPLES), [CUSTOMER_TXN, STRICT, spec], expectations, NOW)
    example, strict, owner = report.feature_sets
    assert example.problem is None
    assert example.outcome is not None
    assert example.outcome.failures == ()
    assert example.source_rows == sum(f.accepted for f in report.files if f.key.startswith("transactions/"))
    assert strict.outcome is not None
    assert any("amount_max_1h" in e and "max_value=100.0" in e for e in strict.outcome.failed)
    assert owner.outcome is not None
    assert owner.outcome.failed == ("expect_column_max_to_be_between(column=amount_max_1h, max_value=100.0)",)
    assert owner.outcome.warnings == ("expect_column_mean_to_be_between(column=amount_count_24h, min_value=50.0)",)
    assert [p.split(":")[0] for p in report.problems] == ["customer_txn_strict", "customer_txn_gated"]
    assert report.to_json()["passed"] is False


def test_the_committed_samples_are_what_the_generator_writes() -> None:
    module_spec = importlib.util.spec_from_file_location("samples_generate", SAMPLES / "generate.py")
    assert module_spec is not None
    assert module_spec.loader is not None
    generator = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(generator)
    expected: dict[str, bytes] = generator.sample_objects()
    committed = read_samples(SAMPLES)
    assert sorted(committed) == sorted(expected)
    for key, body in expected.items():
        if key.endswith(".parquet") and "bad/" not in key:  # parquet bytes name the writer's version
            assert pl.read_parquet(io.BytesIO(committed[key])).equals(pl.read_parquet(io.BytesIO(body))), key
        elif not key.endswith(".parquet"):
            assert committed[key] == body, key
    assert sum(len(b) for b in committed.values()) < 200_000

"""``featurelake check`` as CI runs it: exit 1 on a broken contract or a failing blocking expectation.

Catalogs other than ``features`` declare only the ``transactions`` source, so those runs get a
copy of the transactions samples alone (a directory no contract declares fails the check).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from featurelake.cli.main import app

RUNNER = CliRunner()
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def transactions(tmp_path: Path) -> Path:
    """A copy of the example transactions samples, to break."""
    shutil.copytree(SAMPLES / "transactions", tmp_path / "transactions")
    return tmp_path


def test_a_good_sample_the_contract_rejects_fails_the_check(transactions: Path) -> None:
    bad = transactions / "transactions" / "bad" / "day=2026-11-02-part-0.csv"
    bad.rename(transactions / "transactions" / "day=2026-11-02.csv")  # two malformed rows where good files live
    result = RUNNER.invoke(app, ["check", "--samples", str(transactions), "-f", "customer_txn:v1"])
    assert result.exit_code == 1, result.output
    assert "FAIL  transactions/day=2026-11-02.csv: 77 read, 75 accepted, 2 quarantined" in result.output
    assert "1x customer_id: required but null" in result.output
    assert "ok    customer_txn:v1" in result.output  # the feature set itself still passes its gate
    assert "check FAILED: 1 problem(s)" in result.output


def test_a_bad_sample_the_contract_accepts_fails_the_check_in_json(transactions: Path) -> None:
    good = transactions / "transactions" / "day=2026-11-04" / "part-0.csv"
    shutil.copy(good, transactions / "transactions" / "bad" / "supposedly-bad.csv")
    good.unlink()  # else its rows would be duplicates of the copy's
    result = RUNNER.invoke(app, ["check", "--samples", str(transactions), "-f", "customer_txn:v1", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["passed"] is False
    assert report["problems"] == [
        "transactions/bad/supposedly-bad.csv: is under bad/ but the contract accepted all 83 row(s); "
        "a sample under bad/ must be quarantined"
    ]
    assert "throwaway" in report["pii_key"]
    (entry,) = [f for f in report["files"] if f["key"] == "transactions/bad/supposedly-bad.csv"]
    assert entry == {
        "key": "transactions/bad/supposedly-bad.csv",
        "expect_bad": True,
        "expected": "bad",
        "rows_read": 83,
        "accepted": 83,
        "quarantined": 0,
        "reasons": {},
        "ok": False,
    }
    assert [s["ref"] for s in report["feature_sets"]] == ["customer_txn:v1"]
    assert report["feature_sets"][0]["ok"] is True


def test_a_failing_blocking_owner_expectation_fails_the_check(transactions: Path) -> None:
    args = ["check", "--samples", str(transactions), "--features-module", "tests.catalogs.gated"]
    result = RUNNER.invoke(app, [*args, "-f", "customer_txn_gated:v1"])
    assert result.exit_code == 1, result.output
    assert "FAIL  customer_txn_gated:v1" in result.output
    assert "error: expect_column_max_to_be_between(column=amount_max_1h, max_value=100.0) e.g. observed" in (
        result.output
    )
    assert "warn: expect_column_mean_to_be_between(column=amount_count_24h, min_value=50.0)" in result.output
    assert "FAIL  transactions/" not in result.output  # the contracts passed: the expectation failed the check


def test_warn_only_failures_pass_and_a_spec_bound_fails(transactions: Path) -> None:
    warned = RUNNER.invoke(
        app,
        [
            "check",
            "--samples",
            str(transactions),
            "--features-module",
            "tests.catalogs.warned",
            "-f",
            "customer_txn_warned:v1",
        ],
    )
    assert warned.exit_code == 0, warned.output
    assert "ok    customer_txn_warned:v1" in warned.output
    assert "1 warned" in warned.output
    assert "check passed" in warned.output
    strict = RUNNER.invoke(app, ["check", "--samples", str(transactions), "--features-module", "tests.catalogs.strict"])
    assert strict.exit_code == 1, strict.output
    assert "ok    customer_txn:v1" in strict.output
    assert "FAIL  customer_txn_strict:v1" in strict.output


def test_usage_errors_name_what_is_wrong(tmp_path: Path) -> None:
    missing = RUNNER.invoke(app, ["check", "--samples", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "no samples directory at" in missing.output
    unknown = RUNNER.invoke(app, ["check", "--samples", str(SAMPLES), "-f", "customer_txn:v7"])
    assert unknown.exit_code == 1
    assert "unknown feature set customer_txn:v7" in unknown.output

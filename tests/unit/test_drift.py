"""PSI, KS and the drift report: hand-computed values, scipy as the KS oracle, edge cases, properties."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from featurelake.core import events
from featurelake.core.drift import PSI_EPSILON, drift_report, ks_statistic, psi
from featurelake.core.events import FeatureDrift
from featurelake.core.featureset import DriftPolicy
from featurelake.observe import drift
from features.customer_txn import CUSTOMER_TXN

EPS = PSI_EPSILON


def _normal(seed: int, size: int, mean: float = 0.0) -> pl.Series:
    return pl.Series(np.random.default_rng(seed).normal(mean, 1.0, size))


def test_identical_distributions_have_zero_psi_and_ks() -> None:
    sample = _normal(1, 5_000)

    assert psi(sample, sample) == pytest.approx(0.0, abs=1e-12)
    assert ks_statistic(sample, sample) == 0.0


def test_psi_matches_a_hand_computed_two_bin_example() -> None:
    # Reference 1..10, 2 bins: the median edge is the reference value 5 -> bins (-inf, 5], (5, inf),
    # shares 5/10 and 5/10. Current: 2 of 8 values <= 5, 6 above -> shares 0.25 and 0.75.
    # PSI = (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5 = 0.25 ln 3.
    reference = pl.Series(range(1, 11))
    current = pl.Series([1, 5, 6, 7, 8, 9, 10, 11])

    assert psi(reference, current, bins=2) == pytest.approx(0.25 * math.log(3), rel=1e-12)


def test_psi_gives_an_empty_bin_the_epsilon_share() -> None:
    # Reference 1..8, 4 bins: quartile edges 2, 4, 6 -> (-inf,2] (2,4] (4,6] (6,inf), 2 values each (0.25).
    # Current [1,1,3,3,5,5,5,5] -> shares 0.25, 0.25, 0.5, 0 (empty: epsilon).
    # PSI = 0 + 0 + (0.5 - 0.25) ln(0.5/0.25) + (eps - 0.25) ln(eps/0.25).
    reference = pl.Series(range(1, 9))
    current = pl.Series([1, 1, 3, 3, 5, 5, 5, 5])
    expected = 0.25 * math.log(2) + (EPS - 0.25) * math.log(EPS / 0.25)

    assert psi(reference, current, bins=4) == pytest.approx(expected, rel=1e-12)


def test_a_shifted_normal_is_a_major_shift_on_both_statistics() -> None:
    reference, current = _normal(7, 5_000), _normal(8, 5_000, mean=1.0)

    assert psi(reference, current) > 0.25
    assert ks_statistic(reference, current) > 0.1


def test_a_fresh_sample_of_the_same_normal_is_stable() -> None:
    reference, current = _normal(7, 5_000), _normal(9, 5_000)

    assert psi(reference, current) < 0.1
    assert ks_statistic(reference, current) < 0.1


@pytest.mark.parametrize("seed", range(6))
def test_ks_equals_scipy_ks_2samp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, int(rng.integers(1, 400)))
    b = rng.standard_t(3, int(rng.integers(1, 400))) + rng.uniform(-0.5, 0.5)
    if seed % 2:  # ties within and across samples
        a, b = np.round(a, 1), np.round(b, 1)

    expected = ks_2samp(a, b).statistic

    assert ks_statistic(pl.Series(a), pl.Series(b)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("current", [[2.0, 2.5, 3.0], [-3.0, -2.0, -1.0]])
def test_values_outside_the_reference_range_fall_in_the_outer_bins(current: list[float]) -> None:
    # Reference 1..10 in deciles: 10 bins of 0.1. Every current value lands in one outer bin (share 1),
    # the other 9 bins are empty (epsilon each).
    reference = pl.Series(np.arange(1, 11) / 10)
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (EPS - 0.1) * math.log(EPS / 0.1)

    assert psi(reference, pl.Series(current)) == pytest.approx(expected, rel=1e-12)
    assert ks_statistic(reference, pl.Series(current)) == 1.0


def test_a_constant_reference_gives_finite_statistics() -> None:
    reference = pl.Series([3.0] * 500)

    assert psi(reference, reference) == 0.0
    shifted = psi(reference, pl.Series([3.0] * 250 + [4.0] * 250))
    # one edge (3) -> bins (-inf,3] and (3,inf): shares (1, eps) vs (0.5, 0.5)
    assert shifted == pytest.approx((0.5 - 1) * math.log(0.5) + (0.5 - EPS) * math.log(0.5 / EPS), rel=1e-12)
    assert math.isfinite(shifted)
    assert ks_statistic(reference, pl.Series([4.0] * 10)) == 1.0


def test_discrete_reference_gets_one_bin_per_value() -> None:
    # deciles of a 50/50 {0, 1} reference are 0 and 1 only: bins (-inf,0] (0,1] (1,inf)
    reference = pl.Series([0, 1] * 100)
    current = pl.Series([0] * 50 + [1] * 150)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)

    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_nulls_and_nan_are_excluded() -> None:
    reference = pl.Series(np.arange(1.0, 101.0))
    current = pl.Series([*np.arange(1.0, 101.0), None, float("nan"), None])

    assert psi(reference, current) == pytest.approx(0.0, abs=1e-12)
    assert ks_statistic(reference, current) == 0.0
    with pytest.raises(ValueError, match="current side of 'x' has no non-null"):
        psi(reference, pl.Series("x", [None, float("nan")]))


def test_fewer_bins_than_two_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 bins"):
        psi(pl.Series([1.0]), pl.Series([1.0]), bins=1)


def _frames(size_ref: int, size_cur: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(3)
    reference = pl.DataFrame(
        {
            "amount": rng.normal(0, 1, size_ref),
            "count": rng.integers(0, 10, size_ref),
            "segment": ["a"] * size_ref,
        }
    )
    current = pl.DataFrame(
        {
            "amount": rng.normal(2, 1, size_cur),
            "count": rng.integers(0, 10, size_cur),
            "segment": ["b"] * size_cur,
        }
    )
    return reference, current


def test_report_judges_numeric_features_and_lists_the_rest() -> None:
    reference, current = _frames(1_000, 800)

    report = drift_report(DriftPolicy(min_rows=200), reference, current, ["amount", "count", "segment"])

    by_name = {f.name: f for f in report.features}
    assert report.breached == ("amount",)
    assert report.not_judged == ("segment",)
    amount, count = by_name["amount"], by_name["count"]
    assert amount.judged
    assert amount.psi is not None
    assert amount.psi > 0.25
    assert (amount.reference_rows, amount.current_rows) == (1_000, 800)
    assert count.judged
    assert not count.breached
    segment = by_name["segment"]
    assert (segment.judged, segment.breached, segment.psi, segment.ks) == (False, False, None, None)
    assert "not numeric" in segment.note


def test_too_few_rows_on_either_side_are_not_judged_and_not_breached() -> None:
    reference, current = _frames(1_000, 150)
    current = current.with_columns(pl.lit(None, dtype=pl.Float64).alias("amount"))

    report = drift_report(DriftPolicy(min_rows=200), reference, current, ["amount", "count"])

    assert report.breached == ()
    assert report.not_judged == ("amount", "count")
    assert all(f.psi is None and f.ks is None for f in report.features)
    assert report.features[0].current_rows == 0
    assert report.features[1].current_rows == 150


def test_min_rows_counts_non_nan_values() -> None:
    reference = pl.DataFrame({"x": np.arange(300.0)})
    current = pl.DataFrame({"x": [*np.arange(199.0), *[float("nan")] * 101]})

    report = drift_report(DriftPolicy(min_rows=200), reference, current, ["x"])

    assert report.features[0].current_rows == 199
    assert not report.features[0].judged


def test_missing_columns_are_named() -> None:
    reference, current = _frames(10, 10)

    with pytest.raises(ValueError, match=r"current batch has no column\(s\) \['gone'\]"):
        drift_report(DriftPolicy(), reference.with_columns(gone=pl.lit(1.0)), current, ["amount", "gone"])


def test_markdown_lists_every_feature_with_its_verdict_and_the_thresholds() -> None:
    reference, current = _frames(1_000, 800)

    report = drift_report(DriftPolicy(0.2, 0.1, 200), reference, current, ["amount", "count", "segment"])

    markdown = report.to_markdown()

    assert "PSI > 0.2 or KS > 0.1" in markdown
    assert "fewer than 200" in markdown
    assert "| feature | PSI | KS | rows ref/cur | verdict |" in markdown
    rows = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines() if line.startswith("| ")}
    assert "**drifted**" in rows["amount"]
    assert "1000/800" in rows["amount"]
    assert rows["count"].endswith("| stable |")
    assert "not judged (not numeric: String)" in rows["segment"]


def test_event_features_carry_the_judged_statistics_only() -> None:
    reference, current = _frames(1_000, 800)

    report = drift_report(DriftPolicy(min_rows=200), reference, current, ["amount", "segment"])

    [event] = [FeatureDrift.model_validate(fields) for fields in report.as_event_features()]
    assert event.feature == "amount"
    assert event.breached is True
    assert event.psi == report.features[0].psi
    assert event.ks == report.features[0].ks


_samples = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.integers(-5, 5).map(float),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(reference=_samples, current=_samples, bins=st.integers(2, 12))
def test_psi_is_non_negative_and_ks_is_a_probability(reference: list[float], current: list[float], bins: int) -> None:
    index = psi(pl.Series(reference), pl.Series(current), bins=bins)
    distance = ks_statistic(pl.Series(reference), pl.Series(current))

    assert math.isfinite(index)
    assert index >= 0
    assert 0 <= distance <= 1


def test_a_drift_event_id_follows_the_table_uri_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    reference, current = _frames(1_000, 800)
    report = drift_report(DriftPolicy(min_rows=200), reference, current, ["amount"])
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(drift, "emit", lambda *args: sent.append(args))
    drift.announce_drift("s3://lake/features/customer_txn/v1", CUSTOMER_TXN, report, 7, 6)
    ((name, resource, payload, discriminator),) = sent
    assert (name, resource) == (events.FEATURE_SET_DRIFTED, "featurelake.feature-set.customer_txn.v1")
    assert discriminator == "s3://lake/features/customer_txn/v1@7"
    assert isinstance(payload, events.FeatureSetDrifted)
    assert (payload.delta_version, payload.reference_delta_version) == (7, 6)
    assert [f.feature for f in payload.features] == ["amount"]

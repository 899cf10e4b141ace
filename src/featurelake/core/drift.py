"""Drift statistics between the previous published version of a feature set and a new batch.

Two statistics per numeric feature, because each is blind where the other sees:

- **PSI** (population stability index) compares the share of rows in bins cut at the
  reference's quantiles. It is the credit-risk industry's long-standing monitor, its scale is
  familiar to model owners, and it weighs shifts in the tails as heavily as in the middle.
- **KS** (two-sample Kolmogorov-Smirnov D) is the largest gap between the two empirical CDFs.
  It needs no binning, so it catches shifts that happen inside one PSI bin, and it is bounded
  in [0, 1], which makes one threshold meaningful across features of any scale.

Both ignore nulls and NaN: missingness is the validation suite's job (null checks), and letting
a null count as a value would report a change in completeness as a change in distribution.

What is compared matters as much as how (:mod:`featurelake.core.drift_basis`): a batch is
judged against the same span of the previous publish, only on rows whose windows were full.

Everything here is pure (numpy and polars in, numbers and dataclasses out); the flow turns a
:class:`DriftReport` into MLflow metrics, a Prefect artifact and, on a breach, an event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from featurelake.core.featureset import DriftPolicy

#: The share given to an empty bin, so that ``ln(current / reference)`` stays finite. Small
#: enough not to hide a real shift, large enough that one empty bin cannot dominate the index
#: (an empty bin against a 10 % reference share contributes about 0.69, itself a "major" shift).
PSI_EPSILON = 1e-4

_FloatArray = npt.NDArray[np.float64]


def psi(reference: pl.Series, current: pl.Series, bins: int = 10) -> float:
    """The population stability index of ``current`` against ``reference``.

    ``PSI = Σ (c_i - r_i) · ln(c_i / r_i)`` over bins whose shares are ``r_i`` in the reference
    and ``c_i`` in the current batch. The usual reading: below 0.1 stable, 0.1-0.25 a moderate
    shift worth a look, above 0.25 a major shift. Every term is non-negative, so PSI ≥ 0.

    Bin edges are the reference's ``bins``-quantiles (deciles by default), taken as reference
    values (inverted-CDF quantiles, never interpolated) and deduplicated: discrete or constant
    data gets fewer, wider bins instead of empty zero-width ones, and the edges are always real
    values. Bins are right-closed, ``(e_{i-1}, e_i]``, and the outer ones are open-ended, so a
    current value below the reference's minimum or above its maximum is counted, not lost.
    An empty bin gets the share :data:`PSI_EPSILON`. Nulls and NaN are excluded on both sides.

    Raises:
        ValueError: if ``bins`` is below 2 or either side has no non-null, non-NaN value.
    """
    if bins < 2:
        raise ValueError(f"psi needs at least 2 bins, got {bins}")
    ref, cur = _observed(reference, "reference"), _observed(current, "current")
    edges = _quantile_edges(ref, bins)
    ref_share, cur_share = _bin_shares(ref, edges), _bin_shares(cur, edges)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks_statistic(reference: pl.Series, current: pl.Series) -> float:
    """The two-sample Kolmogorov-Smirnov statistic D: the largest gap between the empirical CDFs.

    Exact, not binned: both CDFs are evaluated at every observed value (the only places where
    either can jump), which gives the same D as ``scipy.stats.ks_2samp`` without depending on
    scipy. Nulls and NaN are excluded on both sides.

    Raises:
        ValueError: if either side has no non-null, non-NaN value.
    """
    ref = np.sort(_observed(reference, "reference"))
    cur = np.sort(_observed(current, "current"))
    points = np.concatenate([ref, cur])
    ref_cdf = np.searchsorted(ref, points, side="right") / ref.size
    cur_cdf = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(ref_cdf - cur_cdf)))


def _observed(series: pl.Series, side: str) -> _FloatArray:
    """The series as float64 without nulls and NaN; integers above 2**53 lose precision, harmlessly here."""
    values: _FloatArray = series.drop_nulls().cast(pl.Float64).to_numpy()
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError(f"the {side} side of {series.name!r} has no non-null, non-NaN values to compare")
    return values


def _quantile_edges(reference: _FloatArray, bins: int) -> _FloatArray:
    """The interior bin edges: distinct reference quantiles at 1/bins, ..., (bins-1)/bins."""
    levels = np.arange(1, bins) / bins
    edges: _FloatArray = np.unique(np.quantile(reference, levels, method="inverted_cdf"))
    return edges


def _bin_shares(values: _FloatArray, edges: _FloatArray) -> _FloatArray:
    """The share of values in each right-closed bin ``(-inf, e_0], (e_0, e_1], ..., (e_last, inf)``."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    shares: _FloatArray = counts / values.size
    return np.where(counts == 0, PSI_EPSILON, shares)


@dataclass(frozen=True)
class FeatureDriftResult:
    """One feature's drift verdict. ``psi`` and ``ks`` are set exactly when the feature was judged.

    ``reference_rows`` and ``current_rows`` count non-null (and, for numbers, non-NaN) values;
    ``note`` says why a feature was not judged.
    """

    name: str
    psi: float | None
    ks: float | None
    breached: bool
    reference_rows: int
    current_rows: int
    judged: bool
    note: str = ""

    @property
    def verdict(self) -> str:
        """A word for a person: drifted, stable, or why the feature was not judged."""
        if not self.judged:
            return f"not judged ({self.note})"
        return "drifted" if self.breached else "stable"


@dataclass(frozen=True)
class DriftReport:
    """The drift verdicts of one batch against the previous published version, in feature order."""

    policy: DriftPolicy
    features: tuple[FeatureDriftResult, ...]
    #: What was compared with what (:meth:`DriftBasis.describe`), for the people reading the report.
    basis: str = ""

    @property
    def judged(self) -> tuple[str, ...]:
        """The names of the features that had enough rows on both sides to be judged."""
        return tuple(f.name for f in self.features if f.judged)

    @property
    def breached(self) -> tuple[str, ...]:
        """The names of the features whose PSI or KS is above the policy's threshold."""
        return tuple(f.name for f in self.features if f.breached)

    @property
    def not_judged(self) -> tuple[str, ...]:
        """The names of the features that were skipped (not numeric, or too few rows)."""
        return tuple(f.name for f in self.features if not f.judged)

    def as_event_features(self) -> list[dict[str, object]]:
        """The judged features as ``FeatureDrift`` event fields (feature, psi, ks, breached).

        Core must not depend on the event models; the caller validates these dicts into them.
        Features that were not judged have no statistics and are left out.
        """
        return [
            {"feature": f.name, "psi": f.psi, "ks": f.ks, "breached": f.breached} for f in self.features if f.judged
        ]

    def to_markdown(self) -> str:
        """A table for a Prefect markdown artifact, headed by the thresholds it was judged against."""
        policy = self.policy
        lines = [
            f"**Drift** — breach when PSI > {policy.psi_threshold:g} or KS > {policy.ks_threshold:g}; "
            f"features with fewer than {policy.min_rows} non-null rows on either side are not judged. "
            f"Breached: {', '.join(self.breached) or 'none'}.",
            *(["", self.basis] if self.basis else []),
            "",
            "| feature | PSI | KS | rows ref/cur | verdict |",
            "|---|---:|---:|---:|---|",
        ]
        lines += [_markdown_row(f) for f in self.features]
        return "\n".join(lines) + "\n"


def _markdown_row(result: FeatureDriftResult) -> str:
    verdict = "**drifted**" if result.breached else result.verdict
    cells = [_escape(result.name), _number(result.psi), _number(result.ks)]
    cells += [f"{result.reference_rows}/{result.current_rows}", _escape(verdict)]
    return "| " + " | ".join(cells) + " |"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def drift_report(
    spec_policy: DriftPolicy, reference: pl.DataFrame, current: pl.DataFrame, features: list[str], basis: str = ""
) -> DriftReport:
    """Judge each named feature of ``current`` against ``reference`` under a feature set's policy.

    Only integer and float features are judged; others are listed as not judged rather than
    dropped, so the report shows what was not watched. A feature with fewer than
    ``min_rows`` non-null values on either side is not judged either (the statistics are noise
    there) and never counts as a breach.

    Raises:
        ValueError: naming the features missing from the reference or the current batch.
    """
    for side, frame in (("reference", reference), ("current batch", current)):
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise ValueError(f"drift: the {side} has no column(s) {missing}; it has {frame.columns}")
    results = tuple(_judge(spec_policy, reference[name], current[name]) for name in features)
    return DriftReport(policy=spec_policy, features=results, basis=basis)


def _judge(policy: DriftPolicy, reference: pl.Series, current: pl.Series) -> FeatureDriftResult:
    name = reference.name
    if not (_is_numeric(reference.dtype) and _is_numeric(current.dtype)):
        dtype = reference.dtype if not _is_numeric(reference.dtype) else current.dtype
        rows = (reference.len() - reference.null_count(), current.len() - current.null_count())
        return FeatureDriftResult(name, None, None, False, *rows, judged=False, note=f"not numeric: {dtype}")
    ref_rows, cur_rows = _observed_count(reference), _observed_count(current)
    if min(ref_rows, cur_rows) < max(policy.min_rows, 1):
        note = f"fewer than {policy.min_rows} rows"
        return FeatureDriftResult(name, None, None, False, ref_rows, cur_rows, judged=False, note=note)
    index, distance = psi(reference, current), ks_statistic(reference, current)
    breached = index > policy.psi_threshold or distance > policy.ks_threshold
    return FeatureDriftResult(name, index, distance, breached, ref_rows, cur_rows, judged=True)


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or dtype.is_float()


def _observed_count(series: pl.Series) -> int:
    """Non-null, non-NaN values: the rows the statistics actually see."""
    values = series.drop_nulls()
    return values.len() - (int(values.is_nan().sum()) if values.dtype.is_float() else 0)

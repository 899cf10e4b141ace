"""What a build shows people in the UI: the gate's report, drift, and where artifacts are kept.

Pure rendering (Markdown and artifact keys); the flow decides when to show it.
"""

from __future__ import annotations

from featurelake.build.plan import BuildPlan
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet
from featurelake.validate.gate import ValidationOutcome

#: What the build's summary artifact says happened (its description in the UI's artifact list).
PUBLISHED = "Published feature batch"
REANNOUNCED = "Re-announced an existing publish (no new data)"
UNCHANGED = "No day changed: marked published, no new data"


def artifact_key(kind: str, spec: FeatureSet) -> str:
    """The UI artifact key of one kind of report on a feature set (``validation-customer-txn``).

    Artifact keys allow only lowercase letters, digits and dashes; the same key every build
    makes the UI show a report's history.
    """
    return f"{kind}-{spec.name.replace('_', '-')}"


def validation_report(spec: FeatureSet, outcome: ValidationOutcome, bronze_version: int, published: bool) -> str:
    """Markdown for the UI: each failed expectation, blocking or warn-only, with a few offending values."""
    verdict = "published" if published else "**not published** (kept in quarantine)"
    lines = [
        f"# {spec.ref}: validation {'passed' if outcome.success else 'FAILED'}",
        "",
        f"Bronze version {bronze_version}; {verdict}. Suite `{outcome.suite_hash}`, {outcome.evaluated} checks.",
        "",
        "| severity | expectation | examples |",
        "|---|---|---|",
    ]
    for failure in outcome.failures:
        examples = ", ".join(f"`{e}`" for e in failure.examples) or "-"
        lines.append(f"| {failure.severity} | `{failure.expectation}` | {examples} |")
    if not outcome.failures:
        lines.append("| - | every expectation passed | - |")
    return "\n".join(lines)


def drift_markdown(spec: FeatureSet, report: DriftReport, delta_version: int, reference_version: int) -> str:
    """Markdown for the UI: the publish's drift against the previous one, feature by feature."""
    title = f"# {spec.ref}: drift of Delta version {delta_version} against version {reference_version}\n\n"
    return title + report.to_markdown()


def unchanged_summary(spec: FeatureSet, plan: BuildPlan, delta_version: int) -> dict[str, object]:
    """What a build that had no day to recompute returns and shows: its marker's version, no rows.

    The bronze version changed no row the table is built from (e.g. a compaction rewrote its
    files); the marker commit only records that it is published, so nothing new is announced.
    """
    outcome = (
        f"unchanged: bronze version {plan.bronze_version} changed no day since bronze version "
        f"{plan.base_bronze_version}; Delta version {delta_version} marks it published, no new data"
    )
    summary: dict[str, object] = {"outcome": outcome, "feature_set": spec.name, "delta_version": delta_version}
    return summary | {"bronze_version": plan.bronze_version, "row_count": 0, "unchanged": True}

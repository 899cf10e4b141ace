"""``featurelake check``: source contracts and the publishing gate on sample data, for CI.

A thin shell over :mod:`featurelake.validate.samples`: it reads the sample files and the owners'
expectation files, prints what happened to each file and feature set, and exits 1 when a
sample did not do what its place promises or a feature set failed a blocking check.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, load_catalog

if TYPE_CHECKING:
    from rich.text import Text

    from featurelake.validate.samples import CheckReport, FeatureSetCheck, FileCheck


def check(
    samples: Path = typer.Option(Path("samples"), "--samples", help="Sample raw files laid out as <source>/<file>."),
    feature_set: list[str] = typer.Option(
        [], "--feature-set", "-f", help="Only these feature sets, name:vN (repeatable); all by default."
    ),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the source contracts and the feature sets' quality gate on sample files (no S3, Prefect or MLflow).

    Files under <source>/bad/ must be quarantined (a row or the whole file).
    Every other file must be accepted whole.
    Exits 1 otherwise, or when a feature set fails an error-severity expectation.
    PII columns are hashed with a published throwaway key, never a real one.
    """
    from featurelake.validate.gate import load_user_expectations
    from featurelake.validate.samples import (
        check_samples,
        read_samples,
        select_feature_sets,
    )  # ingestion: a second to import

    found = load_catalog(features_module)
    specs = select_feature_sets(found, feature_set)
    objects = read_samples(samples)
    expectations = {s.ref: load_user_expectations(found.expectations_path(s)) for s in specs}
    report = check_samples(found.sources, objects, specs, expectations, dt.datetime.now(dt.UTC))
    if as_json:
        output.echo_json(report.to_json())
    else:
        output.show(_coloured(render(report, samples)))
    raise typer.Exit(0 if report.passed else 1)


def _coloured(text: str) -> Text:
    """The report with its verdicts coloured (on a terminal; piped, it is the plain text)."""
    from rich.text import Text

    lines = Text(text)
    lines.highlight_regex(r"(?m)^ *ok\b", "green")
    lines.highlight_regex(r"(?m)^ *FAIL\b.*$", "red")
    lines.highlight_regex(r"(?m)^check passed$", "bold green")
    lines.highlight_regex(r"(?m)^check FAILED.*$", "bold red")
    return lines


def render(report: CheckReport, samples: Path) -> str:
    """The report as lines a reviewer reads in a CI log."""
    lines = [f"samples in {samples}/; PII hashed with the {report.pii_key}", "", "source contracts:"]
    lines += [f"  FAIL  {name}/: no source contract named {name!r} is declared" for name in report.unknown]
    for file in report.files:
        lines += _file_lines(file)
    if not report.files:
        lines.append("  (no sample files)")
    lines += ["", "feature sets (computed from the accepted rows, gated like a build):"]
    for check in report.feature_sets:
        lines += _feature_set_lines(check)
    problems = report.problems
    verdict = "check passed" if not problems else f"check FAILED: {len(problems)} problem(s)"
    return "\n".join([*lines, "", verdict, *(f"  - {p}" for p in problems)])


def _file_lines(file: FileCheck) -> list[str]:
    mark = "ok  " if file.problem is None else "FAIL"
    expected = " (expected bad)" if file.expect_bad else ""
    counts = f"{file.rows_read} read, {file.accepted} accepted, {file.quarantined} quarantined"
    return [f"  {mark}  {file.key}{expected}: {counts}"] + [
        f"          {n}x {reason}" for reason, n in file.reasons.items()
    ]


def _feature_set_lines(check: FeatureSetCheck) -> list[str]:
    mark = "ok  " if check.problem is None else "FAIL"
    if check.outcome is None:
        return [f"  {mark}  {check.ref}: {check.error}"]
    outcome = check.outcome
    head = (
        f"  {mark}  {check.ref}: {check.rows} rows from {check.source_rows} {check.source} rows; "
        f"{outcome.evaluated} checks, {len(outcome.failed)} failed, {len(outcome.warnings)} warned "
        f"(suite {outcome.suite_hash})"
    )
    details = [
        f"          {failure.severity}: {failure.expectation}"
        + (f" e.g. {', '.join(failure.examples)}" if failure.examples else "")
        for failure in outcome.failures
    ]
    return [head, *details]

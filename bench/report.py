"""The stage benchmarks' table and report: ratios, memory against input size, targets met or not.

Standard library only (the parent process formats, children measure).
"""

from __future__ import annotations

import json
from typing import Any

from harness import MIB, machine_line, markdown_table
from stages import STAGES
from stages.base import REFERENCE, Target

HEADERS = ("stage", "engine", "median s", "ratio", "peak RSS MiB", "RSS/input", "read: files, MiB", "target", "met?")
LEGEND = (
    "ratio = the engine's median ÷ featurelake's median in the same stage (above 1: featurelake is faster); "
    "RSS/input = peak RSS during the timed runs ÷ the in-memory size of the stage's input (polars "
    "`estimated_size`); read = files and MiB featurelake's training set opened / the table's (from its "
    "manifest; n/a when the manifest does not record them); targets are checked on the row they name."
)


def table_rows(results: dict[str, Any], artifacts: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stage and engine with its ratio, memory ratio and the targets checked on it."""
    rows = []
    for name, result in results.items():
        stage = STAGES[name]
        input_bytes = stage.input_bytes(artifacts)
        reference = result["engines"].get(REFERENCE, {})
        for engine, record in result["engines"].items():
            row: dict[str, Any] = {"stage": name, "engine": engine, "input_mib": input_bytes / MIB}
            if "skipped" in record:
                rows.append({**row, "skipped": record["skipped"], "targets": []})
                continue
            row.update(
                median_seconds=record["median_seconds"],
                runs=record["runs"],
                variant=record.get("variant", ""),
                requested_runs=record.get("requested_runs", record["runs"]),
                ratio=_ratio(record, reference),
                peak_rss_mib=record["peak_rss_mib"],
                rss_input=record["peak_rss_mib"] * MIB / input_bytes,
            )
            if engine == REFERENCE and "featurelake_reads" in result.get("verified", {}):
                row["reads"] = result["verified"]["featurelake_reads"]
            targets = [t for t in stage.all_targets() if t.engine == engine]
            row["targets"] = [_check(t, row, results, results[name]) for t in targets]
            rows.append(row)
    return rows


def _ratio(record: dict[str, Any], reference: dict[str, Any]) -> float | None:
    if "median_seconds" not in reference:
        return None
    return float(record["median_seconds"] / reference["median_seconds"])


def _check(target: Target, row: dict[str, Any], results: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    """The target's measured value and verdict (None when what it compares with was not run)."""
    value: float | None
    if target.metric == "ratio":
        value = row["ratio"]
    elif target.metric == "rss_input":
        value = row["rss_input"]
    elif target.metric.startswith("rss_vs:"):
        other = stage["engines"].get(target.metric.split(":", 1)[1], {})
        value = row["peak_rss_mib"] / other["peak_rss_mib"] if "peak_rss_mib" in other else None
    else:  # share_of:<stage>
        other = results.get(target.metric.split(":", 1)[1], {}).get("engines", {}).get(REFERENCE, {})
        value = row["median_seconds"] / other["median_seconds"] if "median_seconds" in other else None
    shown = value is not None and target.metric.startswith(("share_of", "rss_vs"))
    text = target.text + (f" ({value:.0%})" if shown else "")
    return {"text": text, "value": value, "met": None if value is None else target.met(value)}


def main_table(rows: list[dict[str, Any]]) -> str:
    """stage | engine | median s | ratio | peak RSS MiB | RSS/input | target | met?"""
    cells = []
    for row in rows:
        if "skipped" in row:
            cells.append([row["stage"], row["engine"], "skipped", "–", "–", "–", "–", row["skipped"], "–"])
            continue
        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        targets = "; ".join(t["text"] for t in row["targets"]) or "–"
        cells.append(
            [
                row["stage"],
                _engine_label(row),
                f"{row['median_seconds']:.2f}",
                ratio,
                f"{row['peak_rss_mib']:.0f}",
                f"{row['rss_input']:.2f}×",
                _reads(row),
                targets,
                _met(row["targets"]),
            ]
        )
    return markdown_table(HEADERS, cells, (False, False, True, True, True, True, True, False, False))


def _reads(row: dict[str, Any]) -> str:
    """featurelake's files and MiB opened of the table's, from its manifest (training-set shapes only)."""
    if "reads" not in row:
        return "–"
    reads = row["reads"]
    if not {"files_read", "files_total", "bytes_read", "bytes_total"} <= reads.keys():
        return "n/a"
    mib = f"{reads['bytes_read'] / MIB:,.1f} / {reads['bytes_total'] / MIB:,.1f}"
    return f"{reads['files_read']:,} / {reads['files_total']:,}, {mib}"


def _engine_label(row: dict[str, Any]) -> str:
    """The engine, the option it ran with, and its run count when fewer than the others'."""
    variant = f" [{row['variant']}]" if row.get("variant") else ""
    fewer = row["runs"] < row.get("requested_runs", row["runs"])
    return row["engine"] + variant + (f" ({row['runs']} runs)" if fewer else "")


def _met(targets: list[dict[str, Any]]) -> str:
    if not targets:
        return "–"
    verdicts = [t["met"] for t in targets]
    if any(v is False for v in verdicts):
        return "**no**"
    return "n/a" if any(v is None for v in verdicts) else "yes"


def verdict(rows: list[dict[str, Any]]) -> str:
    """One line: every target met, or which are not."""
    missed = [f"{r['stage']}/{r['engine']}: {t['text']}" for r in rows for t in r["targets"] if t["met"] is False]
    unknown = [f"{r['stage']}/{r['engine']}: {t['text']}" for r in rows for t in r["targets"] if t["met"] is None]
    lines = ["Targets missed: " + "; ".join(missed) if missed else "Every target checked was met."]
    if unknown:
        lines.append("Not checked (a compared engine did not run): " + "; ".join(unknown))
    return "\n".join(lines)


def markdown(summary: dict[str, Any], table: str) -> str:
    """The report: the table, what each stage ran and checked, every run, the machine."""
    data, info = summary["data"], summary["machine"]
    load = f"{summary['load_avg_before'][0]:.2f} before, {summary['load_avg_after'][0]:.2f} after"
    feast = summary["feast_environment"]
    feast_text = ", ".join(f"{k} {v}" for k, v in feast.items()) if isinstance(feast, dict) else feast
    parts = [
        f"# featurelake stage benchmarks: {data['rows']:,} transactions, {summary['started_at']}",
        "",
        f"`{summary['command']}` (featurelake {summary['code_revision']}); {summary['total_seconds'] / 60:.1f} min "
        f"in all. Transactions: {data['rows']:,} rows, {data['customers']:,} customers, {data['merchants']:,} "
        f"merchants, {data['days']} days. Medians of up to {summary['runs']} runs, each engine in a fresh process.",
        "",
        table,
        "",
        LEGEND,
        "",
        verdict(summary["table"]),
        "",
        f"Machine: {machine_line(info)}. Feast environment: {feast_text}. Load average (1 min): {load}.",
    ]
    for name, result in summary["stages"].items():
        parts += ["", *stage_section(name, result, summary["table"])]
    return "\n".join(parts) + "\n"


def stage_section(name: str, result: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """What one stage ran, its input, its cross-check and every timing."""
    stage = STAGES[name]
    input_mib = next((r["input_mib"] for r in rows if r["stage"] == name), 0.0)
    lines = [
        f"## {name}: {stage.title}",
        "",
        f"Input {input_mib:,.0f} MiB in memory ({stage.notes}); {result['seconds']:.0f} s for the stage.",
        "",
    ]
    lines += [f"- `{e.name}`: {e.describe}" for e in stage.engines if e.name in result["engines"]]
    lines += ["", f"Cross-check: `{json.dumps(result['verified'], default=str)}`", ""]
    cells = []
    for engine, record in result["engines"].items():
        if "skipped" in record:
            continue
        cells.append(
            [
                engine,
                ", ".join(f"{s:.2f}" for s in record["seconds"]),
                f"{record['min_seconds']:.2f}",
                f"{record['median_cpu_seconds']:.2f}",
                f"{record['load_seconds']:.1f}",
                f"{record['rss_mib_before_runs'] or 0:.0f}",
                f"{record['load_avg_start'][0]:.2f} → {record['load_avg_end'][0]:.2f}",
            ]
        )
    headers = (
        "engine",
        "runs (s)",
        "min (s)",
        "median CPU (s)",
        "load inputs (s)",
        "RSS with inputs (MiB)",
        "load avg",
    )
    lines.append(markdown_table(headers, cells, (False, False, True, True, True, True, False)))
    return lines

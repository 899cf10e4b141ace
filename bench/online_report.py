"""The report of ``bench/online.py``: latency and throughput tables, ratios against Feast, the issue's goals.

Standard library only (the parent imports it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from online import BATCH, GOAL_ONE_ENTITY_P99_MS, KEY

SHAPES = (("one_entity", "1 entity"), (f"{BATCH}_entities", f"{BATCH} entities"))
LEGEND = (
    "Milliseconds per request, medians and p99 over the timed requests (after the warm-up), each engine in "
    "its own fresh process, every read against the same moto server (DynamoDB emulated in Python: its cost "
    "dominates, see the raw boto3 rows). featurelake: `FeatureStore.get_online_features` returns a polars "
    "frame with values, event time, Delta version and status per set; Feast: `get_online_features(...)"
    ".to_dict()`. HTTP: `featurelake serve-features` on 127.0.0.1, one keep-alive connection, JSON in and out."
)


def latency_rows(engines: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(engine, path, measurements by shape) for every latency measured."""
    rows = []
    fl, raw = engines.get("featurelake", {}), engines.get("boto3", {})
    if "in_process" in fl:
        rows.append(("featurelake (DynamoDB on moto)", "in-process", fl["in_process"]))
    if "http" in fl:
        rows.append(("featurelake (DynamoDB on moto)", "HTTP", fl["http"]))
    for store in ("dynamodb", "sqlite"):
        record = engines.get(f"feast-{store}", {})
        if "in_process" in record:
            label = "DynamoDB on moto" if store == "dynamodb" else "SQLite"
            rows.append(
                (f"Feast {record.get('versions', {}).get('feast', '')} ({label})", "in-process", record["in_process"])
            )
    if raw:
        shapes = {"one_entity": raw.get("get_item"), f"{BATCH}_entities": raw.get(f"batch_get_item_{BATCH}")}
        rows.append(("raw boto3 (moto's own cost)", "GetItem / BatchGetItem", shapes))
    return rows


def cross_check(out_dir: Path, features: list[str]) -> dict[str, Any]:
    """Compare the first 100-entity answer of featurelake and Feast SQLite with Feast DynamoDB's, value by value."""
    reference = load_sample(out_dir / "feast-dynamodb-sample.json", features)
    if reference is None:
        return {"checked": False, "why": "no Feast DynamoDB answer"}
    checks: dict[str, Any] = {"checked": True}
    for name in ("featurelake", "feast-sqlite"):
        other = load_sample(out_dir / f"{name}-sample.json", features)
        if other is None:
            checks[name] = "no answer"
            continue
        differences = [
            f"{key}:{feature}"
            for key, values in reference.items()
            for feature in features
            if not same(values.get(feature), other.get(key, {}).get(feature))
        ]
        checks[name] = {"entities": len(reference), "differences": len(differences), "first": differences[:5]}
    return checks


def load_sample(path: Path, features: list[str]) -> dict[str, dict[str, Any]] | None:
    """An answer as {key: {feature: value}}: Feast's is by column, featurelake's (polars JSON) by row."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    rows = (
        [dict(zip(data, values, strict=True)) for values in zip(*data.values(), strict=True)]
        if isinstance(data, dict)
        else data
    )
    return {row[KEY]: {f: value_of(row, f) for f in features} for row in rows}


def value_of(row: dict[str, Any], feature: str) -> Any:
    """A feature's value whatever the column is called (``x``, ``set:v1:x``, ``set__v1__x``)."""
    for column, value in row.items():
        if column == feature or column.endswith((f":{feature}", f"__{feature}")):
            return value
    return "missing column"


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def verdict(engines: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each with featurelake's number, Feast's, the ratio and met/missed."""
    fl, feast = engines.get("featurelake", {}), engines.get("feast-dynamodb", {})
    goals: list[dict[str, Any]] = []
    for shape, label in SHAPES:
        ours = fl.get("in_process", {}).get(shape, {}).get("p99_ms")
        theirs = feast.get("in_process", {}).get(shape, {}).get("p99_ms")
        goal = {"goal": f"in-process p99, {label}: featurelake ≤ Feast DynamoDB", "featurelake": ours, "feast": theirs}
        goals.append(goal | ratio(theirs, ours, "Feast p99 / featurelake p99"))
    ours = fl.get("materialize", {}).get("rows_per_s")
    theirs = feast.get("materialize", {}).get("rows_per_s")
    goal = {"goal": "materialization rows/s: featurelake ≥ Feast DynamoDB", "featurelake": ours, "feast": theirs}
    goals.append(goal | ratio(ours, theirs, "featurelake rows/s / Feast rows/s"))
    one = fl.get("in_process", {}).get("one_entity", {}).get("p99_ms")
    met = None if one is None else one <= GOAL_ONE_ENTITY_P99_MS
    goals.append({"goal": f"in-process p99, 1 entity ≤ {GOAL_ONE_ENTITY_P99_MS:g} ms", "featurelake": one, "met": met})
    return goals


def ratio(numerator: float | None, denominator: float | None, name: str) -> dict[str, Any]:
    """``numerator / denominator`` (met when ≥ 1), or unknown when either side was not measured."""
    if not numerator or not denominator:
        return {"ratio_name": name, "ratio": None, "met": None}
    value = numerator / denominator
    return {"ratio_name": name, "ratio": value, "met": value >= 1}


def markdown(report: dict[str, Any], machine_line: Callable[..., str], table: Callable[..., str]) -> str:
    """The whole report as markdown."""
    engines = report["engines"]
    lines = [
        f"# Online serving and materialization ({report['published_rows']:,} published rows, "
        f"{report['entities']:,} entities), {report['started_at']}",
        "",
        f"Command: `{report['command']}` · revision {report['code_revision']} · {report['total_seconds']} s in all",
        f"Machine: {machine_line(report['machine'])}",
        f"Load average before/after: {fmt_load(report['load_avg_before'])} → {fmt_load(report['load_avg_after'])}",
        f"Requests: {report['requests']} timed after {report['warmup']} warm-up, the same keys for every engine.",
        "",
        "## Latency",
        "",
        LEGEND,
        "",
        latency_table(engines, table),
        "",
        "## Materialization",
        "",
        materialize_table(engines, table),
        "",
        "## Goals (issue 17)",
        "",
        goals_table(report["verdict"], table),
        "",
        "## Values cross-checked",
        "",
        f"The first 100-entity answer, value by value against Feast DynamoDB's: `{json.dumps(report['cross_check'])}`",
        "",
        "## Not measured",
        "",
    ]
    lines += [f"- {name}: {record['skipped']}" for name, record in engines.items() if "skipped" in record]
    lines.append("- Feast's HTTP feature server (`feast serve`): not part of this comparison (in-process only).")
    lines += ["", "## Per child load average (start → end)", ""]
    lines += [
        f"- {name}: {fmt_load(r['load_avg_start'])} → {fmt_load(r['load_avg_end'])}"
        for name, r in engines.items()
        if "load_avg_start" in r
    ]
    return "\n".join(lines) + "\n"


def latency_table(engines: dict[str, Any], table: Callable[..., str]) -> str:
    rows = []
    for engine, path, shapes in latency_rows(engines):
        cells = [engine, path]
        for shape, _ in SHAPES:
            measured = shapes.get(shape) or {}
            cells += [ms(measured.get("median_ms")), ms(measured.get("p99_ms"))]
        rows.append(cells)
    headers = ["engine", "path", "1 entity median", "1 entity p99", f"{BATCH} entities median", f"{BATCH} entities p99"]
    return str(table(headers, rows, [False, False, True, True, True, True]))


def materialize_table(engines: dict[str, Any], table: Callable[..., str]) -> str:
    rows = []
    for name in ("featurelake", "feast-dynamodb", "feast-sqlite"):
        done = engines.get(name, {}).get("materialize")
        if done:
            items_per_s = f"{done['items_per_s']:,.0f}" if done.get("items_per_s") else "n/a"
            cells = [name, f"{done['rows']:,}", f"{done['items']:,}", f"{done['seconds']:.1f}"]
            rows.append([*cells, f"{done['cpu_seconds']:.1f}", f"{done['rows_per_s']:,.0f}", items_per_s])
    floor = engines.get("boto3", {}).get("batch_write_item")
    if floor:
        cells = ["raw boto3 batch_writer (moto's write floor, no conditions)", "—", f"{floor['items']:,}"]
        rows.append([*cells, f"{floor['seconds']:.1f}", "—", "—", f"{floor['items_per_s']:,.0f}"])
    headers = ["engine", "published rows", "items written", "seconds", "CPU s (client)", "rows/s", "items/s"]
    return str(table(headers, rows, [False, True, True, True, True, True, True]))


def goals_table(goals: list[dict[str, Any]], table: Callable[..., str]) -> str:
    rows = []
    for goal in goals:
        value = goal.get("ratio")
        shown = f"{value:.2f} ({goal['ratio_name']})" if value is not None else "—"
        met = {True: "met", False: "missed", None: "not measured"}[goal.get("met")]
        rows.append([goal["goal"], number(goal.get("featurelake")), number(goal.get("feast")), shown, met])
    return str(table(["goal", "featurelake", "Feast", "ratio", "verdict"], rows, [False, True, True, False, False]))


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def fmt_load(load: list[float] | tuple[float, ...]) -> str:
    return " ".join(f"{x:.2f}" for x in load)

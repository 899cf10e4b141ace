"""The demo's closing summary: what the chain produced, read back from Delta, MLflow and Prefect, as prose.

Quarantine reasons are shown in full with the object they came from (never cut): they are the
first thing a person debugging a producer needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from featurelake.ingest.bronze import SOURCE_KEY
from featurelake.ingest.reasons import ROWS, count_reasons
from featurelake.settings import Settings

_NO_CHAMPION_YET = "no champion yet"  # the gate's reason when nothing held the alias


def collect_summary(
    settings: Settings, sources: Iterable[str], feature_tables: Iterable[str], ingest: Any, build: Any, retrain: Any
) -> dict[str, Any]:
    """What the chain produced (tables, ingest counts, quarantine, runs, model) for :func:`print_summary`.

    ``feature_tables`` are lake paths (``features/<name>/v<version>``); ``ingest``, ``build`` and
    ``retrain`` are the Prefect flow runs the automations started.
    """
    from featurelake.core.naming import quarantine_path
    from featurelake.io.delta.store import DeltaStore
    from featurelake.io.mlflow import runs

    store, sources = DeltaStore(settings), list(sources)
    build_runs = runs.runs_of_flow_run(settings, str(build.id))
    retrain_runs = runs.runs_of_flow_run(settings, str(retrain.id))
    quarantined = [store.read(quarantine_path(s)) for s in sources if store.table(quarantine_path(s))]
    return {
        "tables": _tables(store, sources, feature_tables),
        "ingest_run": ingest.name,
        "ingest_run_id": str(ingest.id),
        "ingested": _ingested(store, sources),
        "quarantine": quarantine_lines(pl.concat(quarantined, how="diagonal_relaxed") if quarantined else None),
        "build_run": build.name,
        "retrain_run": retrain.name,
        "retrain_run_id": str(retrain.id),
        "retrain_parameters": retrain.parameters,
        "validation": _validation_outcome(build_runs),
        "build_mlflow_runs": [r["run_id"] for r in build_runs],
        "retrain_mlflow_runs": [r["run_id"] for r in retrain_runs],
        "metrics": retrain_runs[0]["metrics"] if retrain_runs else {},
        **_model(settings, str(retrain.parameters.get("model", "")), retrain_runs),
    }


def _tables(store: Any, sources: list[str], feature_tables: Iterable[str]) -> dict[str, tuple[int | None, int]]:
    """Delta version and row count of every table the chain wrote (a table never written is left out)."""
    from featurelake.core.naming import bronze_path, quarantine_path

    paths = [bronze_path(s) for s in sources] + [quarantine_path(s) for s in sources] + list(feature_tables)
    tables = {}
    for path in paths:
        table = store.table(path)
        if table is not None:
            tables[store.uri(path)] = (table.version(), table.count())
    return tables


def _ingested(store: Any, sources: list[str]) -> dict[str, int]:
    from featurelake.ingest.bronze import ingest_log_path

    logs = [store.read(ingest_log_path(s)) for s in sources if store.table(ingest_log_path(s))]
    log = pl.concat(logs) if logs else pl.DataFrame({"rows_accepted": [], "rows_quarantined": []})
    accepted, quarantined = log["rows_accepted"].sum(), log["rows_quarantined"].sum()
    return {"objects": log.height, "rows_accepted": int(accepted or 0), "rows_quarantined": int(quarantined or 0)}


def _model(settings: Settings, name: str, retrain_runs: list[dict[str, Any]]) -> dict[str, str]:
    """The registered version(s) of the retrain and a sentence about the champion."""
    from featurelake.io.mlflow import registry

    versions = [v for r in retrain_runs for v in registry.model_versions_of_run(settings, r["run_id"])]
    tagged = [(v, registry.model_version_tags(settings, name, v)) for v in versions]
    champion = registry.champion_version(settings, name) if name else None
    return {"model": f"{name} version {', '.join(versions) or '?'}", "champion": champion_sentence(champion, tagged)}


def quarantine_lines(quarantined: pl.DataFrame | None) -> list[str]:
    """One line per object and reason, most rows first: ``<key>: <reason> (<n> rows)``, never cut.

    File-level reasons already start with the object key; it is not repeated.
    """
    if quarantined is None or quarantined.is_empty():
        return []
    grouped = count_reasons(quarantined, [SOURCE_KEY]).sort(ROWS, descending=True, maintain_order=True)
    lines = []
    for key, reason, rows in grouped.iter_rows():
        text = str(reason).removeprefix(f"{key}: ")
        lines.append(f"{key}: {text} ({rows} row{'' if rows == 1 else 's'})")
    return lines


def champion_sentence(champion: str | None, retrained: list[tuple[str, dict[str, str]]]) -> str:
    """Which version holds the ``champion`` alias and why, in words (from the gate's tags)."""
    if not retrained:
        held = f"version {champion} is the champion" if champion else "there is no champion"
        return f"the retrain registered no model version; {held}"
    sentences = []
    for version, tags in retrained:
        reason = tags.get("featurelake.promotion_reason", "the gate recorded no reason")
        if version == champion:
            why = "there was no champion before" if reason == _NO_CHAMPION_YET else reason
            sentences.append(f"version {version} is the champion: {why}")
        else:
            holder = f"version {champion} stays the champion" if champion else "there is no champion"
            sentences.append(f"version {version} was not promoted ({reason}); {holder}")
    return "; ".join(sentences)


def parameters_text(parameters: dict[str, Any]) -> str:
    """Flow-run parameters as ``name=value`` pairs, as a person would type them."""
    return ", ".join(f"{name}={value}" for name, value in parameters.items()) or "no parameters"


def print_summary(summary: dict[str, Any], urls: tuple[str, str], say: Callable[[str], None]) -> None:
    """A readable summary of the chain's outputs and where to look at them (Prefect UI, MLflow UI)."""
    say("")
    say("=== featurelake demo: summary ===")
    for uri, (version, rows) in summary["tables"].items():
        say(f"  {uri:<55} delta version {version}, {rows} rows")
    ingested = summary["ingested"]
    say(
        f"  Ingest run {summary['ingest_run']} read {ingested['objects']} objects: "
        f"{ingested['rows_accepted'] + ingested['rows_quarantined']} rows = {ingested['rows_accepted']} accepted"
        f" + {ingested['rows_quarantined']} quarantined."
    )
    if summary["quarantine"]:
        say("  Quarantined, by object and reason:")
    for line in summary["quarantine"]:
        say(f"    {line}")
    say(f"  Build run {summary['build_run']}: validation {summary['validation']}.")
    parameters = parameters_text(summary["retrain_parameters"])
    say(f"  Retrain run {summary['retrain_run']} was started by the automation with {parameters}.")
    say(f"  MLflow runs: build {_ids(summary['build_mlflow_runs'])}; retrain {_ids(summary['retrain_mlflow_runs'])}.")
    say("  Holdout metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(summary["metrics"].items())) + ".")
    say(f"  Registered model {summary['model']}: {summary['champion']}.")
    if "production" in summary:
        _say_production(summary["production"], say)
    if "erasure" in summary:
        _say_erasure(summary["erasure"], say)
    say(f"  Prefect UI: {urls[0]}    MLflow UI: {urls[1]}")


def _say_production(production: dict[str, Any], say: Callable[[str], None]) -> None:
    """The served feature vector (with the version it came from) and the champion's score of the new transaction."""
    served, scored = production["served"], production["score"]
    say(
        f"  Served by {production['feature_server']}/features for customer {served['customer']} as of "
        f"{served['at']}: Delta version {served['delta_version']}, event time {served['event_time']}, "
        f"status {served['status']}:"
    )
    for name, value in served["features"].items():
        say(f"    {name} = {value}")
    say(
        f"  Champion (version {scored['model_version']}) scored the new transaction {scored['txn_id']}: "
        f"{scored['score']:.4f}, in {scored['table']} (features {scored['feature_versions']})."
    )


def _say_erasure(erasure: dict[str, Any], say: Callable[[str], None]) -> None:
    """Who was forgotten, by which requests, and what the proof scan found (nothing, or where)."""
    say(
        f"  Customer {erasure['customer']} was erased from every source (requests {', '.join(erasure['requests'])}): "
        f"{erasure['rows_removed']} bronze rows, the feature days they reached rebuilt, their online item deleted."
    )
    scanned = ", ".join(f"{count} {what}" for what, count in sorted(erasure["scanned"].items()))
    verdict = "no trace of them" if not erasure["hits"] else f"{len(erasure['hits'])} hit(s): {erasure['hits']}"
    say(f"  Proof scan ({scanned}): {verdict}.")


def _ids(run_ids: list[str]) -> str:
    return ", ".join(run_ids) if run_ids else "none recorded"


def _validation_outcome(build_runs: list[dict[str, Any]]) -> str:
    """What the build's MLflow run recorded about its Great Expectations gate."""
    if not build_runs:
        return "not recorded in MLflow"
    metrics = build_runs[0]["metrics"]
    verdict = "passed" if metrics.get("validation_success") == 1.0 else "FAILED"
    evaluated, failed = int(metrics.get("expectations_evaluated", 0)), int(metrics.get("expectations_failed", 0))
    return f"{verdict} ({evaluated} expectations, {failed} failed)"

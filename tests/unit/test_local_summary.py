"""The demo's summary reads as prose: full quarantine reasons with their objects, a champion sentence, no lists."""

from __future__ import annotations

import polars as pl

from featurelake.local.summary import champion_sentence, parameters_text, print_summary, quarantine_lines

RESENT = "transactions/day=2026-11-01/part-0-resent.parquet"
LONG_REASON = "duplicate primary key ['txn_id']: already ingested from " + RESENT


def _quarantine() -> pl.DataFrame:
    rows = [("transactions/day=2026-11-01/part-0.parquet", LONG_REASON)] * 3
    rows += [
        ("transactions/empty.csv", "transactions/empty.csv: is empty (0 bytes)"),
        ("transactions/bad.csv", "amount: not a valid Float64"),
    ]
    return pl.DataFrame(rows, schema=["_source_key", "_reason"], orient="row")


def test_quarantine_reasons_are_grouped_by_object_in_full() -> None:
    assert quarantine_lines(_quarantine()) == [
        f"transactions/day=2026-11-01/part-0.parquet: {LONG_REASON} (3 rows)",
        "transactions/bad.csv: amount: not a valid Float64 (1 row)",
        "transactions/empty.csv: is empty (0 bytes) (1 row)",  # the key is not repeated
    ]


def test_no_quarantine_gives_no_lines() -> None:
    assert quarantine_lines(None) == []
    assert quarantine_lines(_quarantine().clear()) == []


def test_champion_sentence_reads_as_prose() -> None:
    first = {"featurelake.promotion_reason": "no champion yet"}
    lost = {"featurelake.promotion_reason": "holdout_average_precision 0.70 does not beat champion v1 at 0.78"}

    assert champion_sentence("1", [("1", first)]) == "version 1 is the champion: there was no champion before"
    assert champion_sentence("1", [("2", lost)]) == (
        "version 2 was not promoted (holdout_average_precision 0.70 does not beat champion v1 at 0.78); "
        "version 1 stays the champion"
    )
    assert champion_sentence(None, []) == "the retrain registered no model version; there is no champion"


def test_parameters_read_as_name_value_pairs() -> None:
    text = parameters_text({"model": "featurelake-fraud", "feature_set": "customer_txn", "delta_version": 2})

    assert text == "model=featurelake-fraud, feature_set=customer_txn, delta_version=2"
    assert parameters_text({}) == "no parameters"


def test_printed_summary_has_no_python_reprs_and_no_cut_reasons() -> None:
    lines: list[str] = []
    summary = {
        "tables": {"s3://lake/bronze/transactions": (1, 14674)},
        "ingest_run": "wise-limpet",
        "ingested": {"objects": 10, "rows_accepted": 14674, "rows_quarantined": 5},
        "quarantine": quarantine_lines(_quarantine()),
        "build_run": "mature-condor",
        "validation": "passed (54 expectations, 0 failed)",
        "retrain_run": "overjoyed-mackerel",
        "retrain_parameters": {"model": "featurelake-fraud", "delta_version": 2},
        "build_mlflow_runs": ["5a64122ae98a4f3fbe7f460e2f03cc67"],
        "retrain_mlflow_runs": ["d7ef4a811fe74b6eb8c3184a2e28c930", "e8"],
        "metrics": {"holdout_roc_auc": 0.9083},
        "model": "featurelake-fraud version 1",
        "champion": champion_sentence("1", [("1", {"featurelake.promotion_reason": "no champion yet"})]),
        "production": {
            "feature_server": "http://127.0.0.1:8123",
            "served": {
                "customer": "c00042",
                "at": "2026-11-07T01:00:00+00:00",
                "features": {"customer_txn:v1:amount_sum_7d": 812.5, "customer_txn:v1:amount_count_1h": 1},
                "event_time": "2026-11-07T01:00:00Z",
                "delta_version": 7,
                "status": "ok",
            },
            "score": {
                "txn_id": "t9999999",
                "score": 0.0312,
                "model_version": "1",
                "table": "s3://lake/predictions/featurelake-fraud",
                "feature_versions": "customer_txn:v1@7",
            },
        },
    }

    print_summary(summary, ("http://127.0.0.1:4200", "http://127.0.0.1:5000"), lines.append)
    text = "\n".join(lines)

    assert "{'" not in text
    assert not [line for line in lines if "['" in line and "duplicate primary key" not in line]
    assert "MLflow runs: build 5a64122ae98a4f3fbe7f460e2f03cc67; retrain d7ef4a811fe74b6eb8c3184a2e28c930, e8." in text
    assert "with model=featurelake-fraud, delta_version=2." in text
    assert f"{LONG_REASON} (3 rows)" in text
    assert "transactions/empty.csv: is empty (0 bytes) (1 row)" in text
    champion = "version 1 is the champion: there was no champion before"
    assert f"Registered model featurelake-fraud version 1: {champion}." in text
    assert "14679 rows = 14674 accepted + 5 quarantined" in text
    assert "Served by http://127.0.0.1:8123/features for customer c00042 as of 2026-11-07T01:00:00+00:00: " in text
    assert "    customer_txn:v1:amount_sum_7d = 812.5" in text
    assert "scored the new transaction t9999999: 0.0312, in s3://lake/predictions/featurelake-fraud" in text

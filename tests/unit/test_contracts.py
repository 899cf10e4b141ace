"""apply_contract on the transactions contract: typing, rejection reasons, reconciliation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import polars as pl
import pytest

from featurelake.core.contracts import REASON_COLUMN, Constraint, ContractSplit, apply_contract
from features.sources import TRANSACTIONS

TEN_UTC = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def _row(txn_id: str, **overrides: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "txn_id": txn_id,
        "customer_id": "c1",
        "customer_email": "c1@example.org",
        "card_number": "4000000000000001",
        "ip_address": "192.0.2.1",
        "merchant_id": "m1",
        "amount": "12.5",
        "currency": "EUR",
        "country": "FR",
        "event_time": "2026-11-01T10:00:00Z",
    }
    row.update(overrides)
    return row


def _apply(*rows: dict[str, str | None]) -> ContractSplit:
    frame = pl.DataFrame(list(rows), schema=dict.fromkeys(TRANSACTIONS.columns, pl.String))
    split = apply_contract(TRANSACTIONS, frame)
    assert len(rows) == split.accepted.height + split.rejected.height
    return split


def _reasons(split: ContractSplit) -> dict[str, str]:
    return dict(zip(split.rejected["txn_id"], split.rejected[REASON_COLUMN], strict=True))


def test_good_rows_are_accepted_and_typed() -> None:
    split = _apply(_row("t1"), _row("t2", amount="3", country=None))
    assert split.rejected.height == 0
    assert split.accepted.schema == pl.Schema(TRANSACTIONS.columns)
    assert split.accepted.to_dicts() == [
        {
            "txn_id": "t1",
            "customer_id": "c1",
            "customer_email": "c1@example.org",
            "card_number": "4000000000000001",
            "ip_address": "192.0.2.1",
            "merchant_id": "m1",
            "amount": 12.5,
            "currency": "EUR",
            "country": "FR",
            "event_time": TEN_UTC,
        },
        {
            "txn_id": "t2",
            "customer_id": "c1",
            "customer_email": "c1@example.org",
            "card_number": "4000000000000001",
            "ip_address": "192.0.2.1",
            "merchant_id": "m1",
            "amount": 3.0,
            "currency": "EUR",
            "country": None,
            "event_time": TEN_UTC,
        },
    ]


def test_unparseable_amount_is_rejected_naming_the_column() -> None:
    split = _apply(_row("ok"), _row("bad", amount="12,50 EUR"))
    assert split.accepted["txn_id"].to_list() == ["ok"]
    reason = _reasons(split)["bad"]
    assert reason.startswith("amount:")
    assert "not a valid" in reason


def test_null_required_column_is_rejected() -> None:
    split = _apply(_row("ok"), _row("bad", customer_id=None))
    assert split.accepted["txn_id"].to_list() == ["ok"]
    assert _reasons(split) == {"bad": "customer_id: required but null"}


def test_null_optional_column_is_accepted() -> None:
    split = _apply(_row("t1", country=None))
    assert split.rejected.height == 0
    assert split.accepted["country"].to_list() == [None]


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_string_is_treated_as_null(value: str) -> None:
    split = _apply(_row("req", merchant_id=value), _row("opt", country=value))
    assert _reasons(split) == {"req": "merchant_id: required but null"}
    assert split.accepted["txn_id"].to_list() == ["opt"]
    assert split.accepted["country"].to_list() == [None]


@pytest.mark.parametrize("value", ["2026-13-45 99:00:00", "yesterday", "2026-11-01", "1/11/2026 10:00"])
def test_invalid_timestamp_is_rejected(value: str) -> None:
    split = _apply(_row("bad", event_time=value))
    assert split.accepted.height == 0
    assert _reasons(split)["bad"].startswith("event_time: not a valid Datetime")
    assert split.rejected["event_time"].to_list() == [value]  # raw text kept


def test_several_problems_are_all_named() -> None:
    split = _apply(_row("bad", amount="x", currency=None))
    reason = _reasons(split)["bad"]
    assert "amount:" in reason
    assert "currency: required but null" in reason


def test_duplicate_txn_id_rejects_second_occurrence_only() -> None:
    split = _apply(_row("t1", amount="1"), _row("t2"), _row("t1", amount="2"))
    assert split.accepted["txn_id"].to_list() == ["t1", "t2"]
    assert split.accepted["amount"].to_list() == [1.0, 12.5]
    assert _reasons(split) == {"t1": "duplicate primary key ['txn_id']"}
    assert split.rejected["amount"].to_list() == ["2"]


def test_invalid_first_occurrence_does_not_make_a_valid_one_a_duplicate() -> None:
    split = _apply(_row("t1", amount="oops"), _row("t1", amount="2"))
    assert split.accepted["amount"].to_list() == [2.0]
    assert _reasons(split)["t1"].startswith("amount:")


def test_rows_read_reconciles_on_a_mixed_batch() -> None:
    rows = [
        _row("t1"),
        _row("t2", amount="abc"),
        _row("t1"),
        _row("t3", event_time=None),
        _row("t4", customer_id=""),
        _row("t5"),
    ]
    split = _apply(*rows)
    assert split.accepted["txn_id"].to_list() == ["t1", "t5"]
    assert split.rejected.height == 4
    assert split.accepted.height + split.rejected.height == len(rows)
    assert split.rejected[REASON_COLUMN].null_count() == 0


def test_missing_column_raises_naming_it() -> None:
    frame = pl.DataFrame([_row("t1")]).drop("currency")
    with pytest.raises(ValueError, match="currency"):
        apply_contract(TRANSACTIONS, frame)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T10:00:00Z",
        "2026-11-01 10:00:00",
        "2026-11-01T10:00:00",
        "2026-11-01T12:00:00+02:00",
        "2026-11-01T05:00:00-05:00",
    ],
)
def test_timestamp_forms_all_become_ten_utc(text: str) -> None:
    split = _apply(_row("t1", event_time=text))
    assert split.rejected.height == 0
    value = split.accepted["event_time"].item()
    assert value == TEN_UTC
    assert value.utcoffset() is not None
    assert value.utcoffset().total_seconds() == 0


def test_typed_input_columns_are_accepted() -> None:
    frame = pl.DataFrame(
        {
            "txn_id": ["t1"],
            "customer_id": ["c1"],
            "customer_email": [None],
            "card_number": [None],
            "ip_address": [None],
            "merchant_id": ["m1"],
            "amount": [7],
            "currency": ["EUR"],
            "country": [None],
            "event_time": [TEN_UTC],
        },
        schema_overrides={"event_time": pl.Datetime("ns", "UTC")},
    )
    split = apply_contract(TRANSACTIONS, frame)
    assert split.rejected.height == 0
    assert split.accepted["amount"].to_list() == [7.0]
    assert split.accepted["event_time"].to_list() == [TEN_UTC]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NaN", "amount: NaN is not a finite Float64"),
        ("nan", "amount: NaN is not a finite Float64"),
        ("inf", "amount: infinite value is not a finite Float64"),
        ("-inf", "amount: infinite value is not a finite Float64"),
    ],
)
def test_non_finite_amount_is_rejected(value: str, reason: str) -> None:
    split = _apply(_row("t1", amount=value), _row("t2"))
    assert split.accepted["txn_id"].to_list() == ["t2"]
    assert _reasons(split)["t1"] == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"amount": "-3.5"}, "amount: value is below the minimum 0"),
        ({"amount": "2000000"}, "amount: value is above the maximum 1000000"),
        ({"currency": "eur"}, "currency: value does not match '[A-Z]{3}'"),
        ({"currency": "EURO"}, "currency: value does not match '[A-Z]{3}'"),
        ({"country": "F"}, "country: value does not match '[A-Z]{2}'"),
    ],
)
def test_constraint_violations_are_rejected_never_quoting_the_value(overrides: dict[str, str], reason: str) -> None:
    split = _apply(_row("t1", **overrides), _row("t2"))

    assert _reasons(split) == {"t1": reason}
    assert split.accepted["txn_id"].to_list() == ["t2"]
    assert split.rejected[next(iter(overrides))].to_list() == list(overrides.values())  # the row keeps its text


def test_constraints_skip_nulls_and_allowed_values_are_enforced() -> None:
    contract = dataclasses.replace(
        TRANSACTIONS, constraints={**TRANSACTIONS.constraints, "currency": Constraint(allowed=("EUR", "USD"))}
    )
    frame = pl.DataFrame(
        [_row("t1", currency="GBP"), _row("t2", country=None), _row("t3", currency="USD")],
        schema=dict.fromkeys(TRANSACTIONS.columns, pl.String),
    )

    split = apply_contract(contract, frame)

    assert dict(zip(split.rejected["txn_id"], split.rejected[REASON_COLUMN], strict=True)) == {
        "t1": "currency: value is not one of ['EUR', 'USD']"
    }
    assert split.accepted["txn_id"].to_list() == ["t2", "t3"]


def test_a_contract_naming_undeclared_columns_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'transactions' names column\(s\) \['amount_eur'\] it does not declare"):
        dataclasses.replace(TRANSACTIONS, constraints={"amount_eur": Constraint(min_value=0)})


def _with_extra_column() -> pl.DataFrame:
    frame = pl.DataFrame([_row("t1"), _row("t2")], schema=dict.fromkeys(TRANSACTIONS.columns, pl.String))
    return frame.with_columns(pl.Series("channel", ["web", " app "]))


def test_undeclared_columns_reject_the_whole_file_by_default() -> None:
    with pytest.raises(ValueError, match=r"undeclared column\(s\) \['channel'\]; declare them in the contract of"):
        apply_contract(TRANSACTIONS, _with_extra_column())


def test_a_header_that_looks_like_data_is_counted_not_quoted() -> None:
    """A CSV without a header row makes its first row the header: reasons must not carry those values."""
    frame = _with_extra_column().rename({"channel": "jane.doe@example.org"}).with_columns(pl.lit("x").alias("note"))

    with pytest.raises(ValueError, match="undeclared") as raised:
        apply_contract(TRANSACTIONS, frame)

    assert str(raised.value).startswith(
        "undeclared column(s) ['note'] + 1 not shown (not column-like; is the header row missing?); declare them"
    )
    assert "jane" not in str(raised.value)


def test_a_missing_column_names_the_columns_and_the_source() -> None:
    frame = pl.DataFrame([_row("t1")], schema=dict.fromkeys(TRANSACTIONS.columns, pl.String)).drop("currency")

    with pytest.raises(ValueError, match=r"^missing column\(s\) \['currency'\] that the contract of source 'trans"):
        apply_contract(TRANSACTIONS, frame)


def test_undeclared_columns_can_be_kept_as_text_or_dropped() -> None:
    kept = apply_contract(dataclasses.replace(TRANSACTIONS, new_columns="keep"), _with_extra_column())
    dropped = apply_contract(dataclasses.replace(TRANSACTIONS, new_columns="drop"), _with_extra_column())

    assert kept.accepted["channel"].to_list() == ["web", "app"]
    assert kept.accepted.schema["amount"] == pl.Float64
    assert "channel" not in dropped.accepted.columns
    assert dropped.accepted.height == kept.accepted.height == 2

"""PII policies: drop, keyed hash, mask; contracts refuse policies that cannot hold; reasons never quote PII."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import polars as pl
import pytest

from featurelake.core.contracts import REASON_COLUMN, Constraint, apply_contract
from featurelake.core.pii import PiiKeyError, check_key, hmac_hex, key_id, protect
from features.sources import TRANSACTIONS

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_hash_is_hmac_sha256_under_the_key_and_equal_inputs_stay_equal() -> None:
    frame = pl.DataFrame({"email": ["a@x.org", "b@x.org", "a@x.org", None]})

    hashed = protect(frame, {"email": "hash"}, KEY)["email"].to_list()

    expected = hmac.new(KEY, b"a@x.org", hashlib.sha256).hexdigest()
    assert hashed[0] == hashed[2] == expected
    assert hashed[1] != hashed[0]
    assert hashed[3] is None
    assert hashed[0] != hashlib.sha256(b"a@x.org").hexdigest()  # not guessable without the key
    assert protect(frame, {"email": "hash"}, OTHER_KEY)["email"][0] != expected


def test_mask_keeps_the_last_four_characters_only() -> None:
    frame = pl.DataFrame({"card": ["4111111111111111", "12345", "1234", "", None]})

    masked = protect(frame, {"card": "mask"}, None)["card"].to_list()

    assert masked == ["************1111", "*2345", "****", "", None]


def test_drop_removes_the_column_and_absent_columns_are_ignored() -> None:
    frame = pl.DataFrame({"ip": ["192.0.2.1"], "amount": [1.0]})

    protected = protect(frame, {"ip": "drop", "email": "hash"}, None)

    assert protected.columns == ["amount"]


@pytest.mark.parametrize("key", [None, b"short"])
def test_hashing_without_a_strong_key_is_refused(key: bytes | None) -> None:
    with pytest.raises(PiiKeyError):
        protect(pl.DataFrame({"email": ["a@x.org"]}), {"email": "hash"}, key)


def test_key_errors_name_the_store_not_the_key() -> None:
    with pytest.raises(PiiKeyError, match="the PII key in block 'x' has 5 bytes") as error:
        check_key(b"s3cr3", "block 'x'")
    assert "s3cr3" not in str(error.value)


def test_key_id_is_stable_and_reveals_nothing_usable() -> None:
    assert key_id(KEY) == key_id(KEY) != key_id(OTHER_KEY)
    assert len(key_id(KEY)) == 12
    assert hmac_hex(KEY, "x") != key_id(KEY)


@pytest.mark.parametrize(
    ("pii", "message"),
    [
        ({"amount": "hash"}, "must be declared as String to be hashed"),
        ({"txn_id": "drop"}, "is part of the key or the event time and cannot be dropped"),
        ({"customer_email": "encrypt"}, "has policy 'encrypt'; expected one of"),
        ({"phone": "mask"}, r"names column\(s\) \['phone'\] it does not declare"),
    ],
)
def test_contracts_refuse_pii_policies_that_cannot_hold(pii: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TRANSACTIONS, pii=pii)


def test_constraint_reasons_do_not_quote_pii_values() -> None:
    contract = dataclasses.replace(
        TRANSACTIONS, constraints={**TRANSACTIONS.constraints, "customer_email": Constraint(pattern=r"\S+@\S+")}
    )
    row = dict.fromkeys(contract.columns) | {
        "txn_id": "t1",
        "customer_id": "c1",
        "merchant_id": "m1",
        "amount": "1",
        "currency": "EUR",
        "event_time": "2026-11-01T10:00:00Z",
        "customer_email": "jane doe at home",
        "card_number": "4111-1111",
    }
    split = apply_contract(contract, pl.DataFrame([row], schema=dict.fromkeys(contract.columns, pl.String)))

    (reason,) = split.rejected[REASON_COLUMN].to_list()
    assert reason == (
        "card_number: value does not match '[0-9]{12,19}'; customer_email: value does not match '\\\\S+@\\\\S+'"
    )
    assert "jane" not in reason
    assert "4111" not in reason

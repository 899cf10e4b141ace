"""Re-ingesting a raw object cannot bring an erased subject back: its rows are suppressed and counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import polars as pl
import pytest

from featurelake.core.erasure import subject_of
from featurelake.core.naming import bronze_path, quarantine_path
from featurelake.core.pii import PiiKeyError, hmac_hex, key_id
from featurelake.ingest.suppression import add_suppression, load_suppressions, pii_key_ids
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.secrets import create_pii_key_block, read_pii_key, read_retired_keys, retired_key_name
from featurelake.settings import Settings, get_settings
from features.sources import TRANSACTIONS
from flows.ingest import ingest
from tests.integration.helpers import DATA, upload

ROWS = DATA.transactions.head(60).with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
SUBJECT = str(ROWS["customer_id"][0])
EMAIL = str(ROWS.filter(pl.col("customer_id") == SUBJECT)["customer_email"][0])


def _object() -> dict[str, bytes]:
    """The subject's rows, one of them bad (it would be quarantined), among other customers' rows."""
    bad = (
        ROWS.filter(pl.col("customer_id") == SUBJECT)
        .head(1)
        .with_columns(pl.lit("bad-subject-row").alias("txn_id"), pl.lit("-5").alias("amount"))
    )
    other_bad = (
        ROWS.filter(pl.col("customer_id") != SUBJECT)
        .head(1)
        .with_columns(pl.lit("bad-other-row").alias("txn_id"), pl.lit("-5").alias("amount"))
    )
    frame = pl.concat([ROWS.with_columns(pl.col("amount").cast(pl.String)), bad, other_bad])
    return {"transactions/day=1/part-0.csv": frame.write_csv().encode()}


@pytest.fixture
def own_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A PII key of this test's own, so rotating it leaves the other tests' key alone."""
    name = f"featurelake-pii-key-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FEATURELAKE_PII_KEY_NAME", name)
    get_settings.cache_clear()
    create_pii_key_block(name)
    yield settings.model_copy(update={"pii_key_name": name})
    get_settings.cache_clear()


def _subject_in(frame: pl.DataFrame, key: bytes) -> int:
    """Rows of the subject: by id or hashed e-mail in bronze, anywhere in quarantine's raw content."""
    if "_raw" in frame.columns:
        text = pl.col("_raw")
        hits = text.str.contains(f'"{SUBJECT}"', literal=True) | text.str.contains(hmac_hex(key, EMAIL), literal=True)
        return frame.filter(hits | text.str.contains("bad-subject-row", literal=True)).height
    return frame.filter((pl.col("customer_id") == SUBJECT) | (pl.col("customer_email") == hmac_hex(key, EMAIL))).height


def test_suppressed_rows_reach_neither_bronze_nor_quarantine_and_are_counted(own_key: Settings) -> None:
    store, key = DeltaStore(own_key), read_pii_key(own_key)
    subject = subject_of(TRANSACTIONS, "customer_id", SUBJECT, {key_id(key): key}, key_id(key))
    assert add_suppression(store, subject, subject.request_id) is not None
    assert add_suppression(store, subject, subject.request_id) is None  # listed once
    assert len(load_suppressions(store, "transactions").entries) == 1
    upload(own_key, _object())
    expected = ROWS.filter(pl.col("customer_id") == SUBJECT).height + 1

    [result] = ingest(sources=["transactions"])

    assert result["rows_suppressed"] == expected
    assert result["reconciled"] is True
    assert result["rows_read"] == ROWS.height + 2
    assert result["rows_accepted"] == ROWS.height - expected + 1
    assert result["rows_quarantined"] == 1  # the other customer's bad row only
    bronze, quarantine = store.read(bronze_path("transactions")), store.read(quarantine_path("transactions"))
    assert bronze.height == result["rows_accepted"]
    assert _subject_in(bronze, key) == 0
    assert quarantine["_raw"].str.contains("bad-other-row").sum() == 1  # the scan below has a target
    assert _subject_in(quarantine, key) == 0
    assert pii_key_ids(store, "transactions") == {key_id(key)}


def test_a_subject_listed_under_a_retired_key_is_still_suppressed(own_key: Settings) -> None:
    store, old = DeltaStore(own_key), read_pii_key(own_key)
    subject = subject_of(TRANSACTIONS, "customer_email", EMAIL, {key_id(old): old}, key_id(old))
    add_suppression(store, subject, subject.request_id)

    assert create_pii_key_block(own_key.pii_key_name, overwrite=True)

    new = read_pii_key(own_key)
    assert key_id(new) != key_id(old)
    assert read_retired_keys(own_key, [key_id(old), "000000000000"]) == ({key_id(old): old}, ["000000000000"])
    assert retired_key_name(own_key.pii_key_name, key_id(old)).endswith(f"-retired-{key_id(old)}")
    upload(own_key, _object())

    [result] = ingest(sources=["transactions"])

    assert result["rows_suppressed"] == ROWS.filter(pl.col("customer_email") == EMAIL).height + 1
    assert result["reconciled"] is True
    bronze = store.read(bronze_path("transactions"))
    assert bronze.filter(pl.col("customer_email") == hmac_hex(new, EMAIL)).height == 0
    assert bronze.filter(pl.col("customer_id") != SUBJECT).height == bronze.height  # the subject's e-mail = its id here
    assert pii_key_ids(store, "transactions") == {key_id(new)}


def test_a_subject_whose_key_is_lost_stops_ingestion(own_key: Settings) -> None:
    store, lost = DeltaStore(own_key), b"l" * 32
    subject = subject_of(TRANSACTIONS, "customer_id", SUBJECT, {key_id(lost): lost}, key_id(lost))
    add_suppression(store, subject, "req-lost")
    upload(own_key, _object())

    state = ingest(sources=["transactions"], return_state=True)

    assert state.is_failed()
    with pytest.raises(PiiKeyError, match="req-lost"):
        state.result()
    assert store.version(bronze_path("transactions")) is None

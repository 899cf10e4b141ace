"""Personal data policies, applied to raw columns before anything reaches the lake.

A contract tags a column with one policy:

- ``drop``: the column never leaves the raw bucket;
- ``hash``: HMAC-SHA256 under a secret key, as 64 hex characters. Equal inputs give equal
  outputs, so a hashed e-mail still joins and counts distinct customers, but without the key
  nobody can test guesses against it (a plain SHA-256 of an e-mail is reversed by hashing a
  list of e-mails);
- ``mask``: all but the last four characters replaced, for values people must recognise
  (``************1111`` for a card number) but never read in full.

Everything here is pure: the key is an argument, never looked up.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

import polars as pl

PiiPolicy = Literal["drop", "hash", "mask"]
PII_POLICIES: tuple[PiiPolicy, ...] = ("drop", "hash", "mask")
MASK_KEEP_LAST = 4
MIN_KEY_BYTES = 32


class PiiKeyError(ValueError):
    """The HMAC key is missing or too weak to protect anything."""


def check_key(key: bytes | None, where: str) -> bytes:
    """The key itself, once it is known to be long enough for HMAC-SHA256 (32 bytes).

    Raises:
        PiiKeyError: naming where the key was read from (never the key).
    """
    if key is None:
        raise PiiKeyError(f"a contract hashes PII columns but no key was given ({where})")
    if len(key) < MIN_KEY_BYTES:
        raise PiiKeyError(f"the PII key in {where} has {len(key)} bytes; HMAC-SHA256 needs at least {MIN_KEY_BYTES}")
    return key


def key_id(key: bytes) -> str:
    """A short, public name for a key (for audit metadata): which key hashed a batch, not the key."""
    return hashlib.sha256(b"featurelake-pii-key-id|" + key).hexdigest()[:12]


def hmac_hex(key: bytes, value: str) -> str:
    """HMAC-SHA256 of one UTF-8 value, as lowercase hex."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def protect(frame: pl.DataFrame, policies: Mapping[str, PiiPolicy], key: bytes | None) -> pl.DataFrame:
    """Apply each column's policy; columns the frame lacks are ignored, the others untouched.

    Hashing runs over the distinct values of a column only, so a million rows of a few thousand
    customers cost a few thousand HMACs.

    Raises:
        PiiKeyError: when a present column must be hashed and ``key`` is missing or short.
    """
    present = {column: policy for column, policy in policies.items() if column in frame.columns}
    dropped = [column for column, policy in present.items() if policy == "drop"]
    protected = frame.drop(dropped)
    for column, policy in present.items():
        if policy == "hash":
            protected = protected.with_columns(_hashed(protected[column], check_key(key, "protect()")))
        elif policy == "mask":
            protected = protected.with_columns(masked(pl.col(column)).alias(column))
    return protected


def masked(text: pl.Expr) -> pl.Expr:
    """Every character but the last four as ``*``; values of four characters or fewer become all ``*``."""
    as_text = text.cast(pl.String)
    length = as_text.str.len_chars()
    keep = pl.when(length > MASK_KEEP_LAST).then(pl.lit(MASK_KEEP_LAST)).otherwise(pl.lit(0))
    stars = pl.lit("*").repeat_by(length - keep).list.join("")
    return pl.when(as_text.is_not_null()).then(pl.concat_str(stars, as_text.str.slice(length - keep)))


def _hashed(series: pl.Series, key: bytes) -> pl.Series:
    text = series.cast(pl.String)
    distinct = text.drop_nulls().unique().to_list()
    mapping = {value: hmac_hex(key, value) for value in distinct}
    return text.replace_strict(mapping, default=None, return_dtype=pl.String).alias(series.name)

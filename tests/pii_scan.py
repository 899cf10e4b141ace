"""Look for raw personal values wherever the pipeline leaves data: lake tables, objects, MLflow, Prefect.

Tables are scanned decoded (every string cell, nested text included), because parquet compresses
strings and a byte search would miss them; every lake object is scanned as bytes too, for the
Delta log's JSON statistics and metadata. A finding names where and which needle.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from featurelake.io.aws.s3 import s3_client
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings


def pii_needles(transactions: pl.DataFrame) -> list[str]:
    """The raw personal values of the synthetic data: every e-mail, card number and IP address.

    Dropped IPs are searched by their network prefix and e-mails by their domain, so even a
    partial leak is found; card numbers whole (the masked form keeps the last four digits).
    """
    cards = transactions["card_number"].unique().to_list()
    assert all(len(c) == 16 for c in cards)
    assert transactions["customer_email"].str.ends_with("@mail.example.org").all()
    return ["@mail.example.org", "198.51.100.", *cards]


def lake_findings(settings: Settings, needles: list[str]) -> list[str]:
    """Where any needle appears in the lake: decoded Delta tables and raw object bytes."""
    client, bucket = s3_client(settings), settings.lake_bucket
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    findings = []
    encoded = [n.encode() for n in needles]
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        findings += [f"s3://{bucket}/{key} contains {n!r}" for n in encoded if n in body]
    tables = sorted({k.split("/_delta_log/")[0] for k in keys if "/_delta_log/" in k})
    store = DeltaStore(settings)
    for table in tables:
        findings += [f"table {table}: {f}" for f in frame_findings(store.read(table), needles)]
    return findings


def frame_findings(frame: pl.DataFrame, needles: list[str]) -> list[str]:
    """Columns of a frame whose text (nested values as JSON) contains a needle."""
    findings = []
    for column in frame.columns:
        text = _as_text(frame[column])
        if text is not None and text.str.contains_any(needles).any():
            findings.append(f"column {column!r}")
    return findings


def text_findings(texts: Iterable[tuple[str, str]], needles: list[str]) -> list[str]:
    """Which named texts (logs, artifacts) contain a needle."""
    return [f"{name} contains {n!r}" for name, text in texts for n in needles if n in text]


def file_findings(root: Path, needles: list[str]) -> list[str]:
    """Files under ``root`` (an MLflow artifact store) whose bytes contain a needle."""
    encoded = [n.encode() for n in needles]
    return [
        f"{path} contains {n!r}"
        for path in root.rglob("*")
        if path.is_file()
        for n in encoded
        if n in path.read_bytes()
    ]


def _as_text(series: pl.Series) -> pl.Series | None:
    if series.dtype == pl.String:
        return series
    if isinstance(series.dtype, (pl.Struct, pl.List)):
        return series.to_frame().select(pl.struct(pl.all()).struct.json_encode()).to_series()
    return None

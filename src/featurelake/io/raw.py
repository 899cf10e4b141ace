"""Reading raw objects: listing (paginated) and parsing parquet, CSV and NDJSON, gzip or not.

The pipeline only ever reads the raw bucket; producers own it.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass

import polars as pl

from featurelake.io.s3 import s3_client
from featurelake.settings import Settings

SUPPORTED_SUFFIXES = (".parquet", ".csv", ".ndjson", ".jsonl")


@dataclass(frozen=True)
class RawObject:
    """One object in the raw bucket, identified by key and ETag."""

    key: str
    etag: str
    size: int


class UnreadableObjectError(ValueError):
    """A raw object that cannot be parsed as a table; it goes to quarantine whole."""


def list_raw_objects(settings: Settings, prefix: str) -> list[RawObject]:
    """Every object under a prefix, across all listing pages, oldest key first."""
    paginator = s3_client(settings).get_paginator("list_objects_v2")
    found: list[RawObject] = []
    for page in paginator.paginate(Bucket=settings.raw_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found.append(RawObject(item["Key"], item["ETag"].strip('"'), item["Size"]))
    return sorted(found, key=lambda o: o.key)


def fetch_raw_bytes(settings: Settings, obj: RawObject) -> bytes:
    """Download one raw object, pinned to the ETag that was listed.

    Pinning with IfMatch means an object overwritten between listing and reading fails loudly
    instead of being recorded under the wrong ETag.
    """
    response = s3_client(settings).get_object(Bucket=settings.raw_bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
    return response["Body"].read()


def parse_raw_bytes(key: str, data: bytes) -> pl.DataFrame:
    """Parse raw bytes by the key's suffix (``.gz`` is unwrapped first).

    Raises:
        UnreadableObjectError: for an unknown format, a corrupt or empty file.
    """
    name = key.lower()
    try:
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name.removesuffix(".gz")
        frame = _parse_by_suffix(name, data)
    except UnreadableObjectError:
        raise
    except Exception as error:  # any parser failure means the file, not the batch, is bad
        raise UnreadableObjectError(f"{key}: cannot be parsed ({error})") from error
    if frame.height == 0:
        raise UnreadableObjectError(f"{key}: holds no rows")
    return frame


def _parse_by_suffix(name: str, data: bytes) -> pl.DataFrame:
    if name.endswith(".parquet"):
        return pl.read_parquet(io.BytesIO(data))
    if name.endswith(".csv"):
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    if name.endswith((".ndjson", ".jsonl")):
        return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    raise UnreadableObjectError(f"{name}: unsupported format (expected one of {SUPPORTED_SUFFIXES})")


def put_raw_objects(settings: Settings, objects: dict[str, bytes]) -> list[str]:
    """Put objects into the raw bucket as a producer would (the bucket's default encryption applies)."""
    client = s3_client(settings)
    for key, body in objects.items():
        client.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
    return list(objects)

"""``featurelake read``, ``training-set`` and ``lookup``: the Python API's reads, from a shell.

Thin shells over :class:`featurelake.retrieve.featurestore.FeatureStore`. Files are checked before
any table is read (the spine exists and is parquet, the output's directory exists), so a wrong
path costs a second and one line, not a traceback after the join.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from featurelake.cli import output
from featurelake.cli.context import FEATURES_MODULE, JSON, feature_store, settings, utc

if TYPE_CHECKING:
    import polars as pl

VERSION = typer.Option(None, "--version", min=0, help="Delta version to read (see `featurelake history`).")


def read(
    ref: str = typer.Argument(..., help="Feature set, e.g. customer_txn:v1."),
    version: int | None = VERSION,
    as_of: datetime | None = typer.Option(None, "--as-of", help="Read the table as it was at this time (UTC)."),
    limit: int = typer.Option(10, min=0, help="Rows to show (0: all)."),
    out: Path | None = typer.Option(None, dir_okay=False, help="Write all rows to this parquet file."),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Read a feature table at a Delta version or a point in time (time travel)."""
    if out is not None:
        _writable(out)
    _, api = feature_store(features_module)
    table = api.read(ref, delta_version=version, as_of=utc(as_of))
    head = table.frame.head(limit) if limit else table.frame
    if out is not None:
        table.frame.write_parquet(out)
    if as_json:
        summary = {"feature_set": table.spec.ref, "delta_version": table.delta_version, "table_uri": table.table_uri}
        output.echo_json({**summary, "rows": table.frame.height, "head": output.records(head)})
        return
    shown = "" if head.height == table.frame.height else f", the first {head.height} shown"
    typer.echo(
        f"{table.spec.ref} at Delta version {table.delta_version} ({table.table_uri}): {table.frame.height} rows{shown}"
    )
    output.show(output.frame_table(head))
    if out is not None:
        typer.echo(f"wrote {out}")


def training_set(
    spine: Path = typer.Option(
        ..., exists=True, dir_okay=False, readable=True, help="Parquet file: entity keys, a UTC time column, labels."
    ),
    feature: list[str] = typer.Option(..., "--feature", "-f", help="Reference, repeatable: name:vN[:feature]."),
    out: Path = typer.Option(..., dir_okay=False, help="Where to write the training set (parquet)."),
    spine_time: str = typer.Option("event_time", help="The spine's time column (time-zone-aware datetimes)."),
    pin: list[str] = typer.Option([], help="Pin a table: name:vN=DELTA_VERSION (repeatable)."),
    full_names: bool = typer.Option(False, "--full-names", help="Name columns <set>__v<N>__<feature>."),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """Build a point-in-time correct training set; write it and its manifest (<out>.manifest.json)."""
    _writable(out)
    pins = parse_pins(pin)
    frame = read_spine(spine)
    _, api = feature_store(features_module)
    budget = settings().retrieval_budget
    result = api.get_training_set(
        frame, feature, spine_time=spine_time, pins=pins, full_names=full_names, memory_budget=budget
    )
    result.frame.write_parquet(out)
    manifest_path = out.with_suffix(".manifest.json")
    manifest_path.write_text(json.dumps(result.manifest, indent=2, default=str))
    filled = {c: result.frame.height - result.frame[c].null_count() for c in result.feature_columns}
    if as_json:
        summary = {"out": out, "manifest": manifest_path, "rows": result.frame.height}
        output.echo_json({**summary, "feature_sets": result.manifest["feature_sets"], "non_null_values": filled})
        return
    typer.echo(f"wrote {out} ({result.frame.height} rows) and {manifest_path}")
    output.show(
        output.rows_table(
            ("feature set", "Delta version", "fingerprint"),
            [(e["ref"], e["delta_version"], e["fingerprint"]) for e in result.manifest["feature_sets"]],
        )
    )
    output.show(output.rows_table(("feature", "non-null values"), filled.items(), right=["non-null values"]))


def lookup(
    ref: str = typer.Argument(..., help="Feature set or feature, e.g. customer_txn:v1."),
    ids: list[str] = typer.Option(..., "--id", help="Entity id (repeatable); single-key feature sets."),
    version: int | None = VERSION,
    as_of: datetime | None = typer.Option(None, "--as-of", help="Values as of this time (UTC), nulled past the TTL."),
    features_module: str | None = FEATURES_MODULE,
    as_json: bool = JSON,
) -> None:
    """The latest feature values of some entities at a pinned (default: latest) Delta version."""
    _, api = feature_store(features_module)
    spec = api.spec(ref)
    if len(spec.entity_keys) != 1:
        raise ValueError(f"{spec.ref} has keys {list(spec.entity_keys)}; look several keys up with FeatureStore.lookup")
    key = spec.entity_keys[0]
    ids = list(dict.fromkeys(ids))  # one column per entity in the output
    entities = _entities(key, ids, spec.source.columns[key])
    pins = {spec.ref: version} if version is not None else None
    found = api.lookup(entities, [ref], pins=pins, as_of=utc(as_of))
    rows = output.records(found)
    if as_json:
        output.echo_json(rows)
        return
    features = [c for c in found.columns if c != key]  # one row per feature, one column per entity
    output.show(
        output.rows_table(["feature", *(str(r[key]) for r in rows)], [(f, *(r[f] for r in rows)) for f in features])
    )


def read_spine(path: Path) -> pl.DataFrame:
    """The spine, read from a parquet file.

    Raises:
        ValueError: when the file is not parquet, saying how to write one.
    """
    import polars as pl

    try:
        return pl.read_parquet(path)
    except pl.exceptions.PolarsError as error:
        cause = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"spine {path} is not a parquet file ({cause}); write it with polars' DataFrame.write_parquet "
            "(or pandas' to_parquet)"
        ) from None


def parse_pins(pins: list[str]) -> dict[str, int]:
    """``--pin name:vN=DELTA_VERSION`` options as a mapping.

    Raises:
        ValueError: for a pin without ``=`` and a version number, with an example.
    """
    parsed: dict[str, int] = {}
    for text in pins:
        ref, _, version = text.partition("=")
        if not version.isdigit():
            raise ValueError(f"bad --pin {text!r}: expected name:vN=DELTA_VERSION, e.g. customer_txn:v1=3")
        parsed[ref.strip()] = int(version)
    return parsed


def _entities(key: str, ids: list[str], dtype: Any) -> pl.DataFrame:
    """The ``--id`` values as a one-column frame of the key's type."""
    import polars as pl

    try:
        return pl.DataFrame({key: ids}).cast({key: dtype})
    except pl.exceptions.PolarsError:
        raise ValueError(f"--id values {ids} are not all of {key}'s type {dtype}; pass ids like the table's") from None


def _writable(out: Path) -> None:
    """Refuse, before any work, an output whose directory does not exist."""
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: there is no directory {out.parent}; create it first")

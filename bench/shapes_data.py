"""Inputs of the training-set shapes (``stages/training_shapes.py``): station data, spines, an S3 endpoint.

* ``shape_spines``: ``spine-10k.parquet``, the first 10k rows of ``spine.parquet`` (shape a: 10k
  and 100k spines over the customer table; the 100k one is ``spine-small.parquet``);
* ``stations``: shape b, a dense spine over few string entities: hourly rows of 40 stations
  (``station-000`` ...) over a year with 5 % of the hours missing (~333k rows), published with
  featurelake's own writer (``write_feature_table``: its layout, not ours), and a 3M-row
  time-sorted spine (station, time) at random microseconds; TTL 3 h;
* ``stations_hourly``: shape b-s3, 3 stations x 8,760 hours (~26k rows, the same 5 % holes) and
  a 300k time-sorted spine; published per child into a moto S3 server that child starts
  (:func:`s3_lake`), since moto keeps its objects in memory.

``BENCH_SHAPES_SCALE`` (``run.py --shapes-scale``) scales the spines and the dense shape's station
count for smoke runs; it is part of the artifacts' fingerprints.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STATION_KEY, STATION_TIME, SPINE_TIME, ROW_ID = "station_id", "event_time", "ts", "row_id"
STATION_FEATURES = ("temperature", "humidity", "wind_speed", "load_mw", "readings")
STATION_TTL = timedelta(hours=3)
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
HOURS = 8_760
MISSING_HOURS = 0.05
SEED = 20_261_204
S3_BUCKET = "featurelake-bench"


@dataclass(frozen=True)
class StationShape:
    """One station dataset: how many stations, spine rows, and where its files go."""

    name: str  # "stations" or "stations_hourly"
    stations: int
    spine_rows: int

    @property
    def table(self) -> str:
        return f"features/{self.name}/v1"

    def rows_file(self, data_dir: Path) -> Path:
        return data_dir / f"{self.name}.parquet"

    def spine_file(self, data_dir: Path) -> Path:
        return data_dir / f"{self.name}-spine.parquet"


def scale() -> float:
    return float(os.environ.get("BENCH_SHAPES_SCALE", "1"))


def dense_shape() -> StationShape:
    return StationShape("stations", max(4, round(40 * scale())), max(10_000, round(3_000_000 * scale())))


def hourly_shape() -> StationShape:
    return StationShape("stations_hourly", 3, max(10_000, round(300_000 * scale())))


def station_spec(name: str) -> Any:
    """A FeatureSet for station rows: string key, hourly readings, TTL 3 h (only its read side is used)."""
    import polars as pl

    from featurelake.core.contracts import SourceContract
    from featurelake.core.featureset import Feature, FeatureSet

    utc = pl.Datetime("us", "UTC")
    columns = {STATION_KEY: pl.String(), STATION_TIME: utc, **{f: pl.Float64() for f in STATION_FEATURES[:-1]}}
    source = SourceContract(
        name=f"{name}_readings",
        columns={**columns, "readings": pl.Int64()},
        required=(STATION_KEY, STATION_TIME),
        primary_key=(STATION_KEY, STATION_TIME),
        event_time=STATION_TIME,
    )
    features = tuple(
        Feature(f, pl.col(f), pl.Int64() if f == "readings" else pl.Float64(), f"hourly {f}", nullable=True)
        for f in STATION_FEATURES
    )
    return FeatureSet(
        name=name,
        version=1,
        entity_keys=(STATION_KEY,),
        event_time=STATION_TIME,
        source=source,
        features=features,
        description="Hourly station readings (benchmark data).",
        owner="bench",
        ttl=STATION_TTL,
        lookback=timedelta(hours=1),
    )


def station_rows(shape: StationShape) -> Any:
    """Hourly rows per station over a year, 5 % of hours missing, sorted by (station, time)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(SEED + shape.stations)
    stations = np.repeat([f"station-{i:03d}" for i in range(shape.stations)], HOURS)
    hours = np.tile(np.arange(HOURS, dtype=np.int64), shape.stations)
    keep = rng.random(stations.size) >= MISSING_HOURS
    n = int(keep.sum())
    return pl.DataFrame(
        {
            STATION_KEY: stations[keep],
            STATION_TIME: pl.Series(hours[keep] * 3_600_000_000 + int(YEAR_START.timestamp()) * 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "temperature": rng.normal(12, 8, n).round(2),
            "humidity": rng.uniform(20, 100, n).round(1),
            "wind_speed": rng.gamma(2, 3, n).round(2),
            "load_mw": rng.lognormal(3, 0.5, n).round(3),
            "readings": rng.integers(50, 61, n),
        }
    )


def station_spine(shape: StationShape) -> Any:
    """Time-sorted spine rows at random microseconds of the year, random stations, 1 % unknown ones."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(SEED + shape.spine_rows)
    n = shape.spine_rows
    ids = rng.integers(0, shape.stations, n)
    names = np.array([f"station-{i:03d}" for i in range(shape.stations)] + ["station-999"])
    ids[rng.random(n) < 0.01] = shape.stations
    start = int(YEAR_START.timestamp()) * 1_000_000
    times = np.sort(rng.integers(start, start + HOURS * 3_600_000_000, n))
    return (
        pl.DataFrame(
            {
                STATION_KEY: names[ids],
                SPINE_TIME: pl.Series(times).cast(pl.Datetime("us", "UTC")),
                "label": rng.integers(0, 2, n, dtype=np.int8),
            }
        )
        .with_row_index(ROW_ID)
        .with_columns(pl.col(ROW_ID).cast(pl.Int64))
    )


def write_station_data(data_dir: Path, shape: StationShape) -> dict[str, Any]:
    rows, spine = station_rows(shape), station_spine(shape)
    rows.write_parquet(shape.rows_file(data_dir))
    spine.write_parquet(shape.spine_file(data_dir))
    return {
        "rows": rows.height,
        "rows_bytes": rows.estimated_size(),
        "stations": shape.stations,
        "spine_rows": spine.height,
        "spine_bytes": spine.estimated_size(),
        "scale": scale(),
    }


def publish(store: Any, shape: StationShape, data_dir: Path) -> int:
    """featurelake's own writer, as a build publishes: its partitioning, sorting, file sizes and publish commit."""
    import polars as pl

    from featurelake.core.commits import publish_metadata
    from featurelake.io.delta.feature_tables import write_feature_table

    rows, spec = pl.read_parquet(shape.rows_file(data_dir)), station_spec(shape.name)
    metadata = publish_metadata(spec.ref, 0, {"featurelake.actor": "bench"}, rows=rows.height)
    return write_feature_table(store, spec, rows, metadata=metadata)


def produce_stations(ctx: Any) -> dict[str, Any]:
    from stages.artifacts import store

    shape = dense_shape()
    info = write_station_data(ctx.data_dir, shape)
    shutil.rmtree(ctx.lake / shape.table, ignore_errors=True)
    info["delta_version"] = publish(store(ctx), shape, ctx.data_dir)
    files = list((ctx.lake / shape.table).rglob("*.parquet"))
    return {**info, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def produce_stations_hourly(ctx: Any) -> dict[str, Any]:
    return write_station_data(ctx.data_dir, hourly_shape())


def produce_shape_spines(ctx: Any) -> dict[str, Any]:
    import polars as pl

    spine = pl.read_parquet(ctx.data_dir / "spine.parquet").head(10_000)
    spine.write_parquet(ctx.data_dir / "spine-10k.parquet")
    return {"spine_10k_rows": spine.height, "spine_10k_bytes": spine.estimated_size()}


# --------------------------------------------------------------------------------------------
# A moto S3 server for one child (its own process: its memory is not the engine's).
# --------------------------------------------------------------------------------------------


def s3_lake(data_dir: Path) -> tuple[Any, str, dict[str, str]]:
    """Start moto, create the bucket, publish the hourly table with featurelake; (store, table URI, options)."""
    import boto3

    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import Settings

    endpoint = start_moto()
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=S3_BUCKET)
    settings = Settings(lake_uri=f"s3://{S3_BUCKET}/lake", s3_endpoint_url=endpoint)
    store = DeltaStore(settings)
    shape = hourly_shape()
    publish(store, shape, data_dir)
    return store, settings.table_uri(shape.table), settings.delta_storage_options()


def start_moto() -> str:
    """``moto_server`` on a free port, stopped when this process exits."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = str(Path(sys.executable).parent / "moto_server")
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    atexit.register(process.terminate)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).close()
            return url
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"moto_server did not answer on {url} within 60 s")

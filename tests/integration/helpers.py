"""Small helpers shared by integration tests (no mocks: real S3, Delta, MLflow, Prefect)."""

from __future__ import annotations

from featurelake.local import synthetic
from featurelake.settings import Settings

DATA = synthetic.generate()


def demo_objects() -> dict[str, bytes]:
    """The demo's raw objects: transactions by day (parquet/CSV) and two label batches."""
    return synthetic.raw_objects(DATA)


def upload(settings: Settings, objects: dict[str, bytes]) -> list[str]:
    """Put objects into the test's raw bucket."""
    return synthetic.upload(settings, objects)

"""Integration fixtures: flows run against a real (test-harness) Prefect API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="package", autouse=True)
def prefect_api() -> Iterator[None]:
    """One temporary Prefect server (SQLite) for every flow call of the integration tests."""
    from prefect.testing.utilities import prefect_test_harness

    from featurelake.io.prefect.secrets import create_pii_key_block
    from featurelake.settings import Settings

    with prefect_test_harness(server_startup_timeout=120):
        create_pii_key_block(Settings().pii_key_name)
        yield

"""A store sent to another process (a Dask worker joining a training-set slab) carries no secrets."""

from __future__ import annotations

import pickle
from pathlib import Path

from pydantic import SecretStr

from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings


def test_a_pickled_store_reaches_the_same_lake_without_the_settings_secrets(tmp_path: Path) -> None:
    settings = Settings(lake_uri=str(tmp_path / "lake"), openlineage_api_key=SecretStr("token-123"))
    store = DeltaStore(settings)
    payload = pickle.dumps(store)
    copy = pickle.loads(payload)
    assert b"token-123" not in payload
    assert copy.uri("features/x/v1") == store.uri("features/x/v1")
    assert copy.storage_options == store.storage_options
    assert settings.openlineage_api_key is not None  # the caller's settings are untouched

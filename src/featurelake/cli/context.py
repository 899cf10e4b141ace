"""What the commands share: the features package, the lake, who is acting, and command-line times.

Everything heavy is imported inside the functions: ``featurelake --help`` imports typer and rich
only (tests/unit/test_cli_startup.py).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, overload

import typer

if TYPE_CHECKING:
    from featurelake.core.catalog import Catalog
    from featurelake.core.featureset import FeatureSet
    from featurelake.io.delta.store import DeltaStore
    from featurelake.retrieve.featurestore import FeatureStore
    from featurelake.settings import Settings

FEATURES_MODULE = typer.Option(None, "--features-module", help="Package holding the feature sets (default: settings).")
REF = typer.Argument(..., help="Feature set, e.g. customer_txn:v1.")
JSON = typer.Option(False, "--json", help="Print the result as JSON, for scripts.")


def settings() -> Settings:
    """The process's settings (read once from the environment)."""
    from featurelake.settings import get_settings

    return get_settings()


def load_catalog(features_module: str | None) -> Catalog:
    """The feature sets, sources and models of the features package.

    Raises:
        ValueError: when the package itself cannot be imported, naming the option and the setting.
    """
    from featurelake.core import catalog

    name = features_module or settings().features_module
    try:
        return catalog.load(name)
    except ModuleNotFoundError as error:
        if not error.name or not (name == error.name or name.startswith(f"{error.name}.")):
            raise  # the package exists but imports something missing: its own problem, with its traceback
        raise ValueError(
            f"no features package {name!r} can be imported: check --features-module or FEATURELAKE_FEATURES_MODULE, "
            "and run from the project directory"
        ) from None


def lake(features_module: str | None) -> tuple[DeltaStore, Catalog]:
    """The lake (checked to answer first) and the features package."""
    from featurelake.cli.reach import require_lake
    from featurelake.io.delta.store import DeltaStore

    found = load_catalog(features_module)
    require_lake(settings())
    return DeltaStore(settings()), found


def feature_store(features_module: str | None) -> tuple[DeltaStore, FeatureStore]:
    """The lake and the Python API over it, as notebooks use it."""
    from featurelake.retrieve.featurestore import FeatureStore  # pyarrow.dataset: seconds, only for commands that read

    store, found = lake(features_module)
    return store, FeatureStore(store, found.feature_sets.values())


def feature_set(ref: str, features_module: str | None) -> tuple[DeltaStore, FeatureSet]:
    """The lake and the one feature set version a ``name:vN`` reference names."""
    from featurelake.core.refs import FeatureRef

    parsed = FeatureRef.parse(ref)
    store, found = lake(features_module)
    return store, found.get(parsed.name, parsed.version)


def actor() -> str:
    """Who runs the command: ``FEATURELAKE_ACTOR`` (set it in CI or a shared account), else the OS user."""
    import getpass

    return os.environ.get("FEATURELAKE_ACTOR") or f"cli/{getpass.getuser()}"


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """Command-line times are UTC unless they name a zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)

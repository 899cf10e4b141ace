"""The ``featurelake`` command: one module per group of commands, the app in :mod:`featurelake.cli.main`."""

from featurelake.cli.main import app

__all__ = ["app"]

"""Feature definitions: specs as data, polars in, polars out. No I/O, no clock, no environment.

Every module-level ``FeatureSet``, ``SourceContract`` and ``ModelSpec`` in this package is found by
``featurelake.core.catalog.discover("features")``: adding a feature set (or a model to train on
them, see ``models.py``) is adding a module.
"""

"""Feature definitions: specs as data, polars in, polars out. No I/O, no clock, no environment.

Every module-level ``FeatureSet`` and ``SourceContract`` in this package is found by
``featurelake.core.catalog.discover("features")``: adding a feature set is adding a module.
"""

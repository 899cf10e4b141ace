"""The public Python API's import path: ``from featurelake.featurestore import FeatureStore``.

The implementation lives in :mod:`featurelake.retrieve.featurestore`; this module keeps the
documented path working.
"""

from featurelake.retrieve.featurestore import FeatureStore, Selection, TrainingSet

__all__ = ["FeatureStore", "Selection", "TrainingSet"]

"""Fingerprints: a stable hash of what a feature set version computes.

The hash covers the normalized transform plan (each feature's polars expression as polars
serializes it, so formatting, comments and helper functions do not matter), the output schema,
the source columns read with their types, the grain, the TTL and the tie rule (which of rows
sharing keys and event time wins: :mod:`featurelake.core.ties`). It leaves out what does not
change the data: descriptions, owners, tags and validation bounds. A changed fingerprint under
an unchanged version number is exactly what ``featurelake plan`` refuses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from featurelake.core.featureset import Feature, FeatureSet
from featurelake.core.ties import TIE_RULE

_PYTHON_NODES = frozenset({"AnonymousFunction", "PythonUdf", "PythonFunction"})


class UnstableFeatureError(ValueError):
    """A feature whose logic cannot be serialized, so no change to it could be detected."""


def feature_plan(spec: FeatureSet, feature: Feature) -> dict[str, Any]:
    """The normalized plan of one feature: its expression tree and output type.

    Raises:
        UnstableFeatureError: naming the feature when its expression embeds Python code.
    """
    tree = json.loads(feature.expr.meta.serialize(format="json"))
    if _embeds_python(tree):
        # polars pickles Python functions into the plan: the bytes move with line numbers and
        # interpreter versions, so a fingerprint would both miss real changes and invent fake ones.
        raise UnstableFeatureError(
            f"feature set {spec.ref}, feature {feature.name!r}: the expression calls a Python function "
            "(map_elements, map_batches, ...), whose logic cannot be fingerprinted; write it with polars expressions"
        )
    return {"name": feature.name, "dtype": str(feature.dtype), "plan": tree}


def _embeds_python(node: Any) -> bool:
    if isinstance(node, dict):
        return any(k in _PYTHON_NODES or _embeds_python(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_embeds_python(v) for v in node)
    return False


def feature_fingerprint(spec: FeatureSet, feature: Feature) -> str:
    """The fingerprint of one feature, so a diff can name which features changed."""
    return _digest(feature_plan(spec, feature))


def fingerprint_document(spec: FeatureSet) -> dict[str, Any]:
    """Everything the fingerprint covers, as canonical JSON-ready data."""
    read = spec.source_columns()
    return {
        "source": spec.source.name,
        "source_columns": {c: str(spec.source.columns[c]) for c in read},
        "entity_keys": list(spec.entity_keys),
        "event_time": spec.event_time,
        "ttl_seconds": spec.ttl.total_seconds(),
        "tie_rule": TIE_RULE,
        "tiebreak": list(spec.tiebreak),
        "output_schema": dict(sorted((c, str(t)) for c, t in spec.output_schema().items())),
        "features": sorted((feature_plan(spec, f) for f in spec.features), key=lambda plan: str(plan["name"])),
    }


def fingerprint(spec: FeatureSet) -> str:
    """The fingerprint of a feature set version (hex, 16 characters)."""
    return _digest(fingerprint_document(spec))


def fingerprint_before_tie_rule(spec: FeatureSet) -> str:
    """The fingerprint the same spec had before the tie rule was fingerprinted.

    Lets ``featurelake plan`` tell a lake registered before the rule ("only the tie rule is new")
    from a real change of logic; it is never a match by itself.
    """
    document = {k: v for k, v in fingerprint_document(spec).items() if k not in ("tie_rule", "tiebreak")}
    return _digest(document)


def schema_document(spec: FeatureSet) -> dict[str, str]:
    """The output schema as text, the form the registry stores."""
    return {c: str(t) for c, t in spec.output_schema().items()}


def _digest(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]

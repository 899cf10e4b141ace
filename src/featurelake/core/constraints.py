"""Delta CHECK constraints implied by a feature set spec: the last line of defence behind the gate.

Great Expectations decides whether a batch may be published; these constraints make the table
itself refuse rows that break the spec's hard rules (keys present, bounds kept), whoever writes
them: a backfill, a hand-run script, a future bug. Nulls are explicit in every expression,
because SQL treats a comparison with NULL as unknown, not false.
"""

from __future__ import annotations

from featurelake.core.featureset import Feature, FeatureSet


def check_constraints(spec: FeatureSet) -> dict[str, str]:
    """Constraint name → SQL expression, for the key columns and every bounded or non-nullable feature."""
    constraints = {f"{column}_present": f"{column} IS NOT NULL" for column in spec.key_columns}
    for feature in spec.features:
        expression = _feature_rule(feature)
        if expression is not None:
            constraints[f"{feature.name}_valid"] = expression
    return constraints


def _feature_rule(feature: Feature) -> str | None:
    bounds = []
    if feature.min_value is not None:
        bounds.append(f"{feature.name} >= {float(feature.min_value)!r}")
    if feature.max_value is not None:
        bounds.append(f"{feature.name} <= {float(feature.max_value)!r}")
    if feature.nullable:
        return f"({feature.name} IS NULL OR ({' AND '.join(bounds)}))" if bounds else None
    return " AND ".join([f"{feature.name} IS NOT NULL", *bounds])

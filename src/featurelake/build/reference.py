"""What a build's drift is compared with: the previous publish, on the same span, rows with full windows only.

The rules are :mod:`featurelake.core.drift_basis`'s; this reads what they need from the feature
table's log (its first row and last day, from file statistics) and from the build plan.
"""

from __future__ import annotations

from featurelake.build.plan import BuildPlan
from featurelake.core.drift_basis import DriftBasis
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta.published import published_span
from featurelake.io.delta.store import DeltaStore


def drift_basis_of(
    store: DeltaStore, spec: FeatureSet, plan: BuildPlan, table_version: int | None
) -> DriftBasis | None:
    """How the batch ``plan`` builds is compared with the table at ``table_version`` (None: nothing to compare).

    There is nothing to compare with before the first publish, or when the table holds no rows.
    Windows are full from the later of the two sides' first rows plus the lookback: a source
    whose history grew backwards since the previous publish left that publish's early rows short.
    """
    if table_version is None or not plan.chunks:
        return None
    published = published_span(store, spec, table_version)
    if published is None:
        return None
    first_row, last_day = published
    batch_days = (plan.chunks[0].start, plan.chunks[-1].end)
    new_days = max(0, (batch_days[1] - last_day).days)
    start = max(first_row, plan.source_start) if plan.source_start is not None else first_row
    return DriftBasis(table_version, batch_days, new_days, start + spec.lookback, spec.lookback)

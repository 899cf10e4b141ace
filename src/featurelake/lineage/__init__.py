"""Lineage: from a registered model back to the raw objects, and OpenLineage run events of every stage."""

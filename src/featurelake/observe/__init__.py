"""Observe: freshness, validation and drift of feature sets, as status and as events."""

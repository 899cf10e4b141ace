"""Delta Lake adapters (delta-rs): tables, feature tables, time windows, maintenance and the registry."""

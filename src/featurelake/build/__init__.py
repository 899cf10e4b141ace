"""Build: the days a bronze change reaches are recomputed, gated and published as one feature table version."""

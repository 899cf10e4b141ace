"""Retrieve: time-travel reads, point-in-time training sets and latest-value lookups of feature tables."""

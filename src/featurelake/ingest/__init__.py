"""Ingest: raw objects in S3 become bronze Delta rows (contract, PII policy, quarantine), exactly once."""

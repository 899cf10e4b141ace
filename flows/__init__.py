"""Thin Prefect flows, one per module: each reads as the recipe of its stage (see docs/architecture.md)."""

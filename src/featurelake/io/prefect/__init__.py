"""Prefect adapters: events, secrets blocks and the task runners chunks run on."""

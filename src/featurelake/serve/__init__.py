"""Features in production: the online store's materialization, the serving API and batch scoring.

Everything here reads features through the same definitions and as-of rule as training, so an
online value equals the offline ``lookup`` at the same Delta version.
"""

"""Validate: the Great Expectations gate derived from a feature set's spec (the only package that imports GX)."""

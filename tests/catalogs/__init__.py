"""Feature packages that stand in for a user's edits, loaded by name like ``features`` is.

``changed``: customer_txn v1 with different logic and no bump (plan must refuse it).
``bumped``: the same change as customer_txn v2, with v1 kept (plan must accept it).
``strict``: a feature set whose bounds the demo data breaks (validation must refuse it).
``disputes``: a second model spec (its own labels, merchant features, trainer and promotion rule)
proving retrain is generic.
"""

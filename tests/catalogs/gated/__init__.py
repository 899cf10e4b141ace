"""A feature set whose owner expectations the sample data breaks at error severity (``featurelake check`` must fail)."""

"""featurelake: versioned, validated feature tables on Delta Lake, orchestrated by Prefect."""

__version__ = "0.1.0"

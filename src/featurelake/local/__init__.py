"""The embedded local stack: S3 emulator, Prefect server and MLflow on loopback."""

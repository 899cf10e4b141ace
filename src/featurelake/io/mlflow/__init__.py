"""MLflow adapter: tracking runs, the model registry and the champion alias (the only mlflow importer)."""

"""Side effects behind narrow adapters, one package per external system: AWS, Delta Lake, MLflow, Prefect."""

"""Deploy: the deployments of deployments/prefect.yaml registered on a server or served from this process."""

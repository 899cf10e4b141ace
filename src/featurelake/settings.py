"""One typed settings object for every process (flows, CLI, tests).

Only settings differ between the embedded local stack and AWS: the same code path reads
``s3://`` URIs either way. Credentials are never settings: boto3 and delta-rs both read the
standard AWS credential chain (environment, profile, task role).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the raw data and the lake live, and how to reach the tracking server."""

    model_config = SettingsConfigDict(env_prefix="FEATURELAKE_", extra="ignore")

    raw_bucket: str = "featurelake-raw"
    lake_uri: str = "s3://featurelake-lake"
    s3_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    sse: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    mlflow_tracking_uri: str = "sqlite:///.featurelake/mlflow.db"
    mlflow_experiment: str = "featurelake"
    state_dir: Path = Path(".featurelake")
    features_module: str = "features"
    #: Where the HMAC key for PII columns lives: a Prefect Secret block, or an AWS Secrets Manager
    #: secret read through prefect-aws. Only the name is a setting; the key never is.
    pii_key_source: Literal["prefect-secret", "aws-secrets-manager"] = "prefect-secret"
    pii_key_name: str = "featurelake-pii-key"
    #: The break-glass principal that alone may rewrite or delete raw objects (an erasure's raw step):
    #: an IAM role assumed through STS for that step only. Unset: raw objects are listed, not rewritten.
    break_glass_role_arn: str | None = None
    #: OpenLineage run events: POSTed to ``<url>/api/v1/lineage`` (e.g. Marquez) and/or appended
    #: to a JSON-lines file. Neither set: no lineage events are sent.
    openlineage_url: str | None = None
    openlineage_file: Path | None = None
    #: Bearer token for the OpenLineage endpoint; a SecretStr so it never shows in a repr or a log.
    openlineage_api_key: SecretStr | None = None
    #: The job namespace of every featurelake run event (OpenLineage names jobs per scheduler).
    openlineage_namespace: str = "featurelake"
    #: Who computes the validation suite's metrics: polars (fast; GX still builds the suite and judges
    #: the metrics) or GX's own pandas engine. Pass it to ``validate_batch(..., engine=...)``.
    validation_engine: Literal["polars", "gx-pandas"] = "polars"
    #: Peak memory one build process may use, in bytes (``FEATURELAKE_BUILD_MEMORY_BUDGET=2147483648``).
    #: Unset: a build computes its changed days in one chunk. Set: it splits them into day chunks
    #: whose input (days + lookback) fits the budget and computes them one after another.
    build_memory_budget: int | None = None
    #: Peak memory one training-set call may use, in bytes (``FEATURELAKE_RETRIEVAL_MEMORY_BUDGET``);
    #: unset: the build's budget. Set: a spine whose join would not fit is joined in time slabs, one
    #: after another (or on the build executor's Dask workers in the retrain flow), same result.
    retrieval_memory_budget: int | None = None
    #: Where build chunks run: unset or ``threads`` (this process), ``local`` (a local Dask cluster
    #: of ``build_workers`` processes) or a Dask scheduler address (``tcp://scheduler:8786``).
    build_executor: str = "threads"
    build_workers: int = 2
    #: Target rows per chunk when a build fans out (Dask or threads) without a memory budget.
    build_chunk_rows: int | None = None
    #: Local stack only: seconds each service (moto, Prefect server, MLflow, worker, event source)
    #: may take to answer its health check before the start fails. A Prefect server on a new
    #: database needs ~25 s on an idle machine and minutes on a loaded 2-core one.
    stack_start_timeout: float = 600.0
    #: Local stack only: the SQS queue (on the moto endpoint) that receives the raw bucket's
    #: ObjectCreated notifications, which ``featurelake.local.events`` turns into landed events.
    raw_events_queue: str = "featurelake-raw-events"
    #: DynamoDB tables of the online store are named ``<prefix>-<set>-v<version>`` (one per feature
    #: set version, like the Delta tables), on ``s3_endpoint_url``'s endpoint locally (moto serves both).
    online_table_prefix: str = "featurelake-online"
    #: The most entities one online request may ask for (HTTP 413 above it); bounds latency and memory.
    serve_max_entities: int = 1000

    @property
    def retrieval_budget(self) -> int | None:
        """The memory budget of a training-set call: its own setting, else the build's, else none."""
        return self.retrieval_memory_budget if self.retrieval_memory_budget is not None else self.build_memory_budget

    @property
    def lake_bucket(self) -> str:
        """The bucket of an ``s3://`` lake (the lake may sit under a prefix in it)."""
        return self.lake_uri.removeprefix("s3://").split("/")[0]

    def table_uri(self, relative_path: str) -> str:
        """The URI of a lake table, e.g. ``bronze/transactions``."""
        return f"{self.lake_uri.rstrip('/')}/{relative_path.strip('/')}"

    def delta_storage_options(self) -> dict[str, str]:
        """Storage options for delta-rs: endpoint, region and server-side encryption."""
        options = {"AWS_REGION": self.aws_region, "AWS_SERVER_SIDE_ENCRYPTION": self.sse}
        if self.kms_key_id:
            options["AWS_SSE_KMS_KEY_ID"] = self.kms_key_id
        if self.s3_endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.s3_endpoint_url
            if self.s3_endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

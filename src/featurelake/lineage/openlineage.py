"""OpenLineage run events (spec 2-0-2), built by hand; :mod:`featurelake.io.openlineage` sends them.

A START before the work and a COMPLETE or FAIL after it put featurelake's tables into the lineage
graph of Marquez, DataHub or OpenMetadata. The envelope is small, so it is written here rather than
through the openlineage-python client, which the fixed stack does not carry. Datasets follow the
naming spec (``s3://bucket/path`` is namespace ``s3://bucket``, name ``path``) so every producer
names a table alike; run ids are UUIDs derived from the Prefect flow-run id, so START, COMPLETE,
a re-sent event and another flow's parent facet all name the same run. Everything here is pure:
the clock and the job namespace are the caller's.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

SPEC_VERSION = "2-0-2"
SCHEMA_URL = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/featurelake/featurelake"

EventType = Literal["START", "COMPLETE", "FAIL"]
Facet = dict[str, Any]

_FACETS = "https://openlineage.io/spec/facets"
#: The schema of each standard facet, pinned to the version the OpenLineage client emits.
_FACET_SCHEMAS = {
    "schema": f"{_FACETS}/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "dataSource": f"{_FACETS}/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
    "version": f"{_FACETS}/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "outputStatistics": f"{_FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet",
    "errorMessage": f"{_FACETS}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "parent": f"{_FACETS}/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "processing_engine": f"{_FACETS}/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
    "jobType": f"{_FACETS}/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    # Custom facet: key ``{prefix}_{name}``, as the spec asks of facets outside the standard.
    "featurelake_prefectFlowRun": f"{PRODUCER}/blob/v0.1.0/docs/openlineage/"
    "FeaturelakePrefectFlowRunRunFacet.json#/$defs/FeaturelakePrefectFlowRunRunFacet",
}
#: Fixed forever: changing it changes every derived run id and splits runs in the catalogue.
_RUN_ID_NAMESPACE = uuid.UUID("0b7f3c52-6a4e-4d1c-9a1e-3f5d2c8b9e71")


@dataclass(frozen=True)
class LineageDataset:
    """A dataset as OpenLineage names it, plus what a catalogue shows about it.

    ``version`` is the Delta table version (the data version a run read or wrote); ``schema`` maps
    column to type; ``row_count`` (outputs only) becomes the ``outputStatistics`` facet; ``facets``
    are extra dataset facets, passed through and winning over the built ones on a name clash.
    """

    namespace: str
    name: str
    version: str | None = None
    schema: Mapping[str, str] | None = None
    row_count: int | None = None
    facets: Mapping[str, Facet] = field(default_factory=dict)


class ParentRun(NamedTuple):
    """The run that started this one (e.g. the flow run whose event triggered a retrain)."""

    job_namespace: str
    job_name: str
    run_id: str


def s3_dataset(uri: str, delta_version: int | None = None, schema: Mapping[str, str] | None = None) -> LineageDataset:
    """The dataset of an object-store URI, named as the OpenLineage naming spec says.

    ``s3://bucket/a/b/`` becomes namespace ``s3://bucket``, name ``a/b``; a local path becomes
    namespace ``file``, name the absolute path, so local-stack lineage stays readable.
    """
    parts = urlsplit(uri)
    if not parts.path.strip("/"):
        raise ValueError(f"dataset URI {uri!r} names no path: give the table's full URI")
    if parts.scheme in ("", "file"):
        namespace, name = "file", str(Path(parts.path).absolute())
    else:
        namespace, name = f"{parts.scheme}://{parts.netloc}", parts.path.strip("/")
    version = None if delta_version is None else str(delta_version)
    return LineageDataset(namespace, name, version=version, schema=schema)


def lineage_run_id(job_namespace: str, job_name: str, run_id: str) -> str:
    """The OpenLineage run id (a UUID) of a job's run, deterministic in the Prefect flow-run id.

    The job is part of the key so that two jobs reported from one flow run stay two runs.
    """
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{job_namespace}|{job_name}|{run_id}"))


def run_event(
    event_type: EventType,
    run_id: str,
    job_name: str,
    inputs: Sequence[LineageDataset] = (),
    outputs: Sequence[LineageDataset] = (),
    *,
    now: datetime,
    namespace: str,
    error: str | BaseException | None = None,
    parent: tuple[str, str, str] | None = None,
    flow_run_url: str | None = None,
) -> dict[str, Any]:
    """One OpenLineage RunEvent as JSON-ready data.

    Args:
        event_type: START before the work; COMPLETE (outputs with their new Delta versions) or
            FAIL after it.
        run_id: The Prefect flow-run id (any stable string); the event carries a UUID derived
            from it and the id itself in the ``featurelake_prefectFlowRun`` facet.
        job_name: The job, e.g. ``build_features.customer_txn``.
        inputs: Datasets read.
        outputs: Datasets written.
        now: When the transition happened; must be timezone-aware (no hidden clock).
        namespace: The job namespace (``Settings.openlineage_namespace``): one per environment,
            so staging and production runs of a job stay apart in the catalogue.
        error: The failure of a FAIL event; an exception also gives the stack trace.
        parent: ``(job_namespace, job_name, run_id)`` of the run that started this one.
        flow_run_url: The Prefect UI page of the flow run, when known.

    Raises:
        ValueError: for a naive ``now``.
    """
    return {
        "eventType": event_type,
        "eventTime": _event_time(now),
        "run": {
            "runId": lineage_run_id(namespace, job_name, run_id),
            "facets": _run_facets(event_type, run_id, error, parent, flow_run_url),
        },
        "job": {"namespace": namespace, "name": job_name, "facets": _job_facets()},
        "inputs": [_dataset_json(dataset, output=False) for dataset in inputs],
        "outputs": [_dataset_json(dataset, output=True) for dataset in outputs],
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


def _event_time(now: datetime) -> str:
    """ISO-8601 in UTC with an explicit zone: a naive time is ambiguous to every consumer."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("run_event needs a timezone-aware `now`, e.g. datetime.now(UTC)")
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _facet(key: str, /, **fields: Any) -> Facet:
    """A facet as the spec wants it: naming its producer and the schema version it follows."""
    return {"_producer": PRODUCER, "_schemaURL": _FACET_SCHEMAS[key], **fields}


def _run_facets(
    event_type: EventType,
    run_id: str,
    error: str | BaseException | None,
    parent: tuple[str, str, str] | None,
    flow_run_url: str | None,
) -> dict[str, Facet]:
    prefect = {"flowRunId": run_id, **({"flowRunUrl": flow_run_url} if flow_run_url else {})}
    facets = {
        "processing_engine": _facet("processing_engine", **_engine()),
        "featurelake_prefectFlowRun": _facet("featurelake_prefectFlowRun", **prefect),
    }
    if parent is not None:
        facets["parent"] = _parent_facet(ParentRun(*parent))
    if error is not None or event_type == "FAIL":
        facets["errorMessage"] = _error_facet(error)
    return facets


def _parent_facet(parent: ParentRun) -> Facet:
    """Derives the parent's run id the same way, so it matches the parent's own events."""
    parent_run_id = lineage_run_id(parent.job_namespace, parent.job_name, parent.run_id)
    return _facet(
        "parent",
        run={"runId": parent_run_id},
        job={"namespace": parent.job_namespace, "name": parent.job_name},
    )


def _error_facet(error: str | BaseException | None) -> Facet:
    """A FAIL always explains itself, even when the caller had no message to give."""
    if isinstance(error, BaseException):
        trace = "".join(traceback.format_exception(error)).rstrip()
        message = f"{type(error).__name__}: {error}"
        return _facet("errorMessage", message=message, programmingLanguage="PYTHON", stackTrace=trace)
    return _facet("errorMessage", message=error or "run failed", programmingLanguage="PYTHON")


@lru_cache(maxsize=1)
def _engine() -> dict[str, str]:
    """Prefect runs the job; featurelake is the integration that reports it."""
    return {"name": "prefect", "version": _version("prefect"), "openlineageAdapterVersion": _version("featurelake")}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _job_facets() -> dict[str, Facet]:
    job_type = {"processingType": "BATCH", "integration": "PREFECT", "jobType": "FLOW"}
    return {"jobType": _facet("jobType", **job_type)}


def _dataset_json(dataset: LineageDataset, *, output: bool) -> dict[str, Any]:
    facets: dict[str, Facet] = {"dataSource": _facet("dataSource", name=dataset.namespace, uri=dataset.namespace)}
    if dataset.version is not None:
        facets["version"] = _facet("version", datasetVersion=dataset.version)
    if dataset.schema is not None:
        fields = [{"name": name, "type": kind} for name, kind in dataset.schema.items()]
        facets["schema"] = _facet("schema", fields=fields)
    body: dict[str, Any] = {
        "namespace": dataset.namespace,
        "name": dataset.name,
        "facets": {**facets, **dataset.facets},
    }
    if output and dataset.row_count is not None:
        stats = _facet("outputStatistics", rowCount=dataset.row_count)
        body["outputFacets"] = {"outputStatistics": stats}
    return body

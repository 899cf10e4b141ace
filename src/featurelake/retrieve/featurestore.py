"""The Python API users train and serve with: time-travel reads, training sets, latest values.

``FeatureStore`` resolves references (``customer_txn:v2`` or ``customer_txn:v2:amount_sum_7d``)
against the feature sets in code, checks each against the registry, reads each table pinned to
one Delta version, and joins point in time. Every result names exactly what it read, so a
training set can be rebuilt and a model traced back to its tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from featurelake.core.featureset import FeatureSet
from featurelake.core.fingerprint import fingerprint
from featurelake.core.pointintime import SpineError, check_spine
from featurelake.core.refs import FeatureRef
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.feature_tables import FeatureTableRead, read_feature_table
from featurelake.io.delta.registry import FeatureRegistry, RegistryMismatchError
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve.online import check_entities, online_columns
from featurelake.retrieve.training import ChunkMapper, SetRequest, in_process, join_in_slabs, read_summary
from featurelake.retrieve.training_budget import plan_slabs


@dataclass(frozen=True)
class Selection:
    """The features requested from one feature set version, and their output column names."""

    spec: FeatureSet
    columns: dict[str, str]  # feature -> output column


@dataclass(frozen=True)
class TrainingSet:
    """The joined frame plus the manifest that makes it reproducible."""

    frame: pl.DataFrame
    feature_columns: list[str]
    manifest: dict[str, Any]


class FeatureStore:
    """Feature sets in code, tables in the lake."""

    def __init__(
        self, store: DeltaStore, feature_sets: Iterable[FeatureSet], *, online: OnlineStore | None = None
    ) -> None:
        self._store = store
        self._specs = {spec.ref: spec for spec in feature_sets}
        self._registry = FeatureRegistry(store)
        self._online = online

    def spec(self, ref: str) -> FeatureSet:
        """The feature set a reference names.

        Raises:
            KeyError: listing the feature sets that exist.
        """
        parsed = FeatureRef.parse(ref)
        try:
            return self._specs[parsed.set_ref]
        except KeyError:
            raise KeyError(f"unknown feature set {parsed.set_ref}; known: {sorted(self._specs)}") from None

    def read(self, ref: str, *, delta_version: int | None = None, as_of: datetime | None = None) -> FeatureTableRead:
        """A feature set's table at a Delta version or at a point in time (latest by default).

        Raises:
            ValueError: when both a version and a time are given: they could disagree.
        """
        if delta_version is not None and as_of is not None:
            raise ValueError(f"read of {ref}: pass a Delta version or a time (as_of), not both")
        spec = self.spec(ref)
        _check_registered(spec, self._registry)
        return read_feature_table(self._store, spec, delta_version=delta_version, as_of=as_of)

    def get_training_set(
        self,
        spine: pl.DataFrame,
        features: list[str],
        *,
        spine_time: str = "event_time",
        pins: Mapping[str, int] | None = None,
        full_names: bool = False,
        memory_budget: int | None = None,
        chunks: int | None = None,
        map_chunks: ChunkMapper | None = None,
    ) -> TrainingSet:
        """Join features as of each spine row's time; the spine's own columns (labels) pass through.

        ``pins`` maps ``name:vN`` to a Delta version; unpinned tables are read at their latest
        version, which the manifest records. ``full_names`` names columns ``<set>__v<N>__<feature>``
        instead of ``<feature>``, for requests whose feature names clash.

        ``memory_budget`` (bytes of RSS) splits the spine into time slabs whose reads and join fit
        it; ``chunks`` asks for that many slabs instead. The result is the same row for row. Slabs
        run one after another here unless ``map_chunks(function, jobs)`` runs them elsewhere (e.g.
        on Dask workers: ``featurelake.io.prefect.runners.chunk_mapper``).
        """
        selections = self._select(features, full_names, reserved=set(spine.columns))
        pins = _normalised_pins(pins, [s.spec.ref for s in selections])
        if spine.is_empty():
            raise SpineError("training set: the spine has no rows")
        if spine_time not in spine.columns:
            raise SpineError(
                f"training set: the spine has no time column {spine_time!r} (it has {spine.columns}); name the "
                "column holding each row's time with spine_time= (CLI: --spine-time)"
            )
        requests = []
        for selection in selections:
            spec = selection.spec
            key_types = {k: spec.source.columns[k] for k in spec.entity_keys}
            check_spine(spine, spec.entity_keys, spine_time, f"training set with {spec.ref}", key_types)
            requests.append(SetRequest(spec, selection.columns, pins.get(spec.ref)))
        slabs, pinned = plan_slabs(self._store, spine, spine_time, requests, memory_budget=memory_budget, chunks=chunks)
        joined, reads = join_in_slabs(self._store, spine, spine_time, pinned, slabs, map_chunks or in_process)
        entries = [_manifest_entry(s, read_summary(r)) for s, r in zip(selections, reads, strict=True)]
        manifest = {"spine": _spine_summary(spine, spine_time), "feature_sets": entries}
        columns = [c for s in selections for c in s.columns.values()]
        frame = spine.hstack(joined)
        return TrainingSet(frame, columns, manifest)

    def lookup(
        self,
        entities: pl.DataFrame,
        features: list[str],
        *,
        pins: Mapping[str, int] | None = None,
        as_of: datetime | None = None,
    ) -> pl.DataFrame:
        """The latest value of each feature for each entity at a pinned version (nulls when unknown).

        With ``as_of``, rows after it are ignored and values older than the TTL are nulled, as a
        training set would see them at that time; without it, the latest row is returned however
        old. For each feature set the result has a ``<set>__v<N>__event_time`` column saying how
        old the values are; entities keep their order and duplicates.
        """
        selections = self._select(features, full_names=False, reserved=set(entities.columns))
        pinned = _normalised_pins(pins, [s.spec.ref for s in selections])
        frame = entities
        for selection in selections:
            spec = selection.spec
            missing = [k for k in spec.entity_keys if k not in entities.columns]
            if missing:
                raise KeyError(f"lookup of {spec.ref}: the entities frame lacks key column(s) {missing}")
            wanted = entities.select(spec.entity_keys).unique()
            table = read_feature_table(
                self._store, spec, delta_version=pinned.get(spec.ref), columns=list(selection.columns), entities=wanted
            )
            latest = _latest_per_entity(_as_of(table.frame, spec, as_of), spec)
            if as_of is not None:
                fresh = pl.col(spec.event_time) >= as_of - spec.ttl
                latest = latest.with_columns(pl.when(fresh).then(pl.col(c)) for c in selection.columns)
            renamed = latest.rename({spec.event_time: f"{spec.name}__v{spec.version}__event_time", **selection.columns})
            frame = frame.join(renamed, on=list(spec.entity_keys), how="left", maintain_order="left")
        return frame

    def get_online_features(
        self, entities: pl.DataFrame, features: list[str], *, at: datetime | None = None
    ) -> pl.DataFrame:
        """The online store's values for each entity, as ``lookup`` would give them at the materialized version.

        ``at`` is the request time (default: now, UTC): values older than the TTL then are null,
        as in training. Per feature set the result has ``<set>__v<N>__event_time``,
        ``__delta_version`` and ``__status`` ("ok", "unknown_entity" or "expired") columns;
        entities keep their order and duplicates. The online store is the one given to the
        constructor, else the DynamoDB tables on the store's settings.
        """
        selections = self._select(features, full_names=False, reserved=set(entities.columns))
        if self._online is None:  # one client per store, not per request: serving calls this per request
            self._online = OnlineStore(self._store.settings)
        online = self._online
        when = at if at is not None else datetime.now(UTC)
        parts = [entities]
        for selection in selections:
            check_entities(entities, selection.spec)
            parts.append(online_columns(online, selection.spec, selection.columns, entities, when))
        return pl.concat(parts, how="horizontal")

    def _select(self, features: list[str], full_names: bool, reserved: set[str]) -> list[Selection]:
        """Group references by feature set, in request order, and name the output columns."""
        if not features:
            raise ValueError("no features requested: pass references like 'customer_txn:v1' or 'customer_txn:v1:x'")
        chosen: dict[str, list[str]] = {}
        for text in features:
            ref, spec = FeatureRef.parse(text), self.spec(text)
            names = list(spec.feature_names) if ref.feature is None else [spec.feature(ref.feature).name]
            chosen.setdefault(spec.ref, [])
            chosen[spec.ref] += [n for n in names if n not in chosen[spec.ref]]
        selections = [
            Selection(self._specs[ref], {n: _output_name(self._specs[ref], n, full_names) for n in names})
            for ref, names in chosen.items()
        ]
        _refuse_clashes(selections, reserved)
        _check_registered([s.spec for s in selections], self._registry)
        return selections


def _check_registered(specs: FeatureSet | list[FeatureSet], registry: FeatureRegistry) -> None:
    """Refuse specs whose logic differs from the registered one: their tables hold the registered logic's data.

    Raises:
        RegistryMismatchError: naming the feature set and what to run.
    """
    registered = {r.ref: r.fingerprint for r in registry.records()}
    for spec in specs if isinstance(specs, list) else [specs]:
        code = fingerprint(spec)
        if registered.get(spec.ref, code) != code:
            raise RegistryMismatchError(
                f"{spec.ref}: the code's logic (fingerprint {code}) differs from the registered one "
                f"({registered[spec.ref]}); run `featurelake plan` to see what changed, then bump the version or revert"
            )


def _normalised_pins(pins: Mapping[str, int] | None, requested: list[str]) -> dict[str, int]:
    """Pins keyed by ``name:vN``; a pin that matches no requested feature set is an error, not a no-op.

    Raises:
        ValueError: naming the pin and the feature sets that were requested.
    """
    normalised = {FeatureRef.parse(key).set_ref: version for key, version in (pins or {}).items()}
    stray = sorted(set(normalised) - set(requested))
    if stray:
        raise ValueError(f"pin(s) for {stray} match no requested feature set; requested: {requested}")
    return normalised


def _output_name(spec: FeatureSet, feature: str, full_names: bool) -> str:
    return f"{spec.name}__v{spec.version}__{feature}" if full_names else feature


def _refuse_clashes(selections: list[Selection], reserved: set[str]) -> None:
    """Two requested features (or a feature and a spine column) must not share an output name."""
    seen: dict[str, str] = {}
    for selection in selections:
        for feature, column in selection.columns.items():
            owner = f"{selection.spec.ref}:{feature}"
            if column in reserved or column in seen:
                other = seen.get(column, "the spine")
                raise ValueError(
                    f"output column {column!r} is requested twice ({other} and {owner}); "
                    "pass full_names=True (CLI: --full-names) or drop one of them"
                )
            seen[column] = owner


def _as_of(frame: pl.DataFrame, spec: FeatureSet, as_of: datetime | None) -> pl.DataFrame:
    if as_of is None:
        return frame
    if as_of.tzinfo is None:
        raise ValueError(f"lookup of {spec.ref}: as_of {as_of.isoformat()} has no time zone; pass an aware datetime")
    return frame.filter(pl.col(spec.event_time) <= as_of)


def _latest_per_entity(frame: pl.DataFrame, spec: FeatureSet) -> pl.DataFrame:
    """Each entity's last row: reads return only the requested entities, times ascending within each."""
    return frame.unique(list(spec.entity_keys), keep="last")


def _manifest_entry(selection: Selection, reads: dict[str, Any]) -> dict[str, Any]:
    spec = selection.spec
    return {
        "feature_set": spec.name,
        "version": spec.version,
        "ref": spec.ref,
        "fingerprint": fingerprint(spec),
        "table_uri": reads.pop("table_uri"),
        "delta_version": reads.pop("delta_version"),
        "entity_keys": list(spec.entity_keys),
        "ttl_seconds": spec.ttl.total_seconds(),
        "features": list(selection.columns),
        "columns": dict(selection.columns),
        **reads,
    }


def _spine_summary(spine: pl.DataFrame, spine_time: str) -> dict[str, Any]:
    times = spine[spine_time]
    return {
        "rows": spine.height,
        "time_column": spine_time,
        "min_time": str(times.min()),
        "max_time": str(times.max()),
    }

"""A model's lineage as text: an indented tree, one line per hop and per raw object.

The walk (:mod:`featurelake.lineage.models`) finds the records; this only lays them out, the way
``tree`` prints directories, so the CLI and the retrain's artifact show the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from featurelake.lineage.records import BronzeVersion, FeatureVersion, TrainingSetRecord


@dataclass(frozen=True)
class _Node:
    label: str
    children: tuple[_Node, ...] = ()


def render_chain(title: str, training: TrainingSetRecord, warnings: Sequence[str]) -> str:
    """The tree under ``title`` (the model): the training set, its tables and raw objects, then warnings."""
    return "\n".join(_tree_lines(_chain_tree(title, training, warnings)))


def render_batch(
    title: str,
    scored: BronzeVersion | None,
    features: Sequence[FeatureVersion],
    model: tuple[str, TrainingSetRecord],
    warnings: Sequence[str],
) -> str:
    """A prediction batch's tree: the rows it scored, the feature versions it joined, then the model's own chain."""
    nodes = [_Node("scored rows", (_bronze_node(scored),))] if scored is not None else []
    nodes.append(_Node("features joined at scoring", tuple(_feature_node(f) for f in features)))
    nodes.append(_chain_tree(model[0], model[1], ()))
    if warnings:
        nodes.append(_Node("warnings", tuple(_Node(f"! {w}") for w in warnings)))
    return "\n".join(_tree_lines(_Node(title, tuple(nodes))))


def _chain_tree(title: str, training: TrainingSetRecord, warnings: Sequence[str]) -> _Node:
    spine = f"{training.spine_rows} spine rows" if training.spine_rows is not None else "spine not recorded"
    if training.spine_time_range:
        spine += f", {training.spine_time_column} {training.spine_time_range[0]} .. {training.spine_time_range[1]}"
    hops = [_feature_node(f) for f in training.feature_sets]
    if training.labels is not None:
        hops.append(_Node("labels (spine)", (_bronze_node(training.labels),)))
    nodes = [_Node(f"training set: {spine}", tuple(hops))]
    if warnings:
        nodes.append(_Node("warnings", tuple(_Node(f"! {w}") for w in warnings)))
    return _Node(title, tuple(nodes))


def _feature_node(feature: FeatureVersion) -> _Node:
    audit = (
        f"{feature.operation or 'commit'} {_when(feature.committed_at)}; fingerprint {feature.fingerprint or '?'}; "
        f"suite {feature.suite_hash or '?'}; code {feature.code_revision or '?'}; "
        f"flow run {feature.flow_run_id or '?'}; build run {feature.build_run_id or '?'}"
    )
    children = (_Node(audit), _bronze_node(feature.bronze)) if feature.bronze else (_Node(audit),)
    return _Node(f"feature set {feature.ref} @ Delta version {feature.delta_version}  {feature.table_uri}", children)


def _bronze_node(bronze: BronzeVersion) -> _Node:
    objects = tuple(
        _Node(f"{o.key}  ETag {o.etag}  {o.rows} rows" + (f"  ! {o.note}" if o.note else "")) for o in bronze.objects
    )
    label = (
        f"bronze {bronze.source} @ Delta version {bronze.delta_version}  {bronze.table_uri}  "
        f"({len(bronze.objects)} raw objects, {bronze.rows} rows, committed {_when(bronze.committed_at)})"
    )
    return _Node(label, objects)


def _when(moment: datetime | None) -> str:
    return "?" if moment is None else moment.isoformat(timespec="seconds")


def _tree_lines(node: _Node, prefix: str = "", last: bool = True, root: bool = True) -> list[str]:
    """Box-drawing tree lines, the way ``tree`` prints directories."""
    lines = [node.label if root else f"{prefix}{'└── ' if last else '├── '}{node.label}"]
    inner = "" if root else prefix + ("    " if last else "│   ")
    for index, child in enumerate(node.children):
        lines += _tree_lines(child, inner, index == len(node.children) - 1, root=False)
    return lines

"""The stage registry's vocabulary: a stage is engines timed on the same input, a check, and targets.

Everything here is standard library only, so a child in any environment (Feast's included) can
import the registry; engines import their libraries inside their functions.

To add a stage (say, the whole pipeline), write a module with a ``STAGES`` tuple of
:class:`Stage` and list it in ``stages/__init__.py``. Each :class:`Engine` loads its inputs
untimed in ``prepare`` and returns the :class:`~harness.Job` to time; ``save`` writes the last
result to ``Context.output(stage, engine)``, where the stage's ``verify`` compares every
engine's output. ``requires`` names the artifacts (see ``stages/artifacts.py``) the parent
prepares before the stage runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Job

#: Every stage's reference engine: ratios are engine time ÷ featurelake time.
REFERENCE = "featurelake"
#: The memory target, checked on every featurelake row: peak RSS ≤ this × the input's size.
RSS_LIMIT = 2.5


class Unavailable(Exception):  # noqa: N818  (a condition, not a failure: the run goes on without it)
    """An engine cannot run in this tree or environment; the reason is recorded and the stage goes on."""


@dataclass(frozen=True)
class Context:
    """Where a child finds its inputs and puts its outputs.

    ``data_dir`` holds the generated data and the artifacts (kept across runs);
    ``out_dir`` holds this benchmark run's outputs (compared by ``verify``, then left for inspection).
    """

    data_dir: Path
    out_dir: Path

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    def artifacts(self) -> dict[str, Any]:
        """What the prepared artifacts recorded (sizes, row counts), by artifact name."""
        path = self.data_dir / "artifacts.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def output(self, stage: str, engine: str, suffix: str = ".parquet") -> Path:
        """The file an engine's result is saved to for the stage's cross-check."""
        return self.out_dir / f"{stage}-{engine}{suffix}"


@dataclass(frozen=True)
class Engine:
    """One way of doing a stage's work, timed in its own fresh process.

    ``env`` names the Python environment the child runs in (``main``: this project's;
    ``feast``: ``bench/feast``). ``max_runs`` caps the runs of a slow baseline (recorded).
    """

    name: str
    prepare: Callable[[Context], Job]
    save: Callable[[Context, str, Any], None]  # (context, engine name, last result)
    describe: str
    env: str = "main"
    max_runs: int | None = None


@dataclass(frozen=True)
class Target:
    """A goal checked on one row of the table.

    ``metric`` is ``ratio`` (engine time ÷ featurelake time), ``rss_input`` (peak RSS ÷ input
    size), ``share_of:<stage>`` (this row's time ÷ featurelake's time in that stage) or
    ``rss_vs:<engine>`` (this row's peak RSS ÷ that engine's in the same stage).
    """

    engine: str
    metric: str
    op: str  # ">=" or "<="
    limit: float
    text: str

    def met(self, value: float) -> bool:
        return value >= self.limit if self.op == ">=" else value <= self.limit


@dataclass(frozen=True)
class Stage:
    """Engines timed on the same input, their outputs cross-checked, targets checked.

    ``input_bytes`` reads the input's in-memory size (polars ``estimated_size``) from the
    artifacts; ``verify`` fails loudly (``SystemExit``) when engines disagree and otherwise returns
    what it checked, for the report.
    """

    name: str
    title: str
    engines: tuple[Engine, ...]
    requires: tuple[str, ...]
    input_bytes: Callable[[dict[str, Any]], int]
    verify: Callable[[Context, list[str]], dict[str, Any]]
    targets: tuple[Target, ...] = field(default=())
    notes: str = ""

    def engine(self, name: str) -> Engine:
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise KeyError(f"stage {self.name} has no engine {name!r}; it has {[e.name for e in self.engines]}")

    def all_targets(self) -> tuple[Target, ...]:
        """The stage's own targets plus the memory target on featurelake's row."""
        memory = Target(REFERENCE, "rss_input", "<=", RSS_LIMIT, f"RSS ≤ {RSS_LIMIT}× input")
        return (*self.targets, memory)


def faster_than(engine: str, times: float, what: str) -> Target:
    """featurelake at least ``times`` × faster than ``engine`` (that engine's ratio ≥ ``times``)."""
    text = f"featurelake ≥ {times:g}× faster than {what}" if times != 1 else f"featurelake at least as fast as {what}"
    return Target(engine, "ratio", ">=", times, text)


def within(engine: str, times: float, what: str) -> Target:
    """featurelake at most ``times`` × slower than ``engine`` (that engine's ratio ≥ 1 / ``times``)."""
    return Target(engine, "ratio", ">=", round(1 / times, 3), f"featurelake ≤ {times:g}× {what}")

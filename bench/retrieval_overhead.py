"""Benchmark: the fixed overhead of one FeatureStore call on a warm process (issue 16: ≤ 0.1 s).

    .venv/bin/python bench/retrieval_overhead.py
    .venv/bin/python bench/retrieval_overhead.py --calls 20 --publishes 25 --registry-commits 30

A tiny lake on local disk in a temporary directory, written the way a build writes it: the
feature set registered (plus ``--registry-commits`` other registrations, so the registry has a
history to read), the table created empty, its CHECK constraints added, then ``--publishes``
publishes of one day of rows (one data file). One ``FeatureStore`` serves every call, as in a
notebook or a scoring loop: one warm-up call (first imports, first table open), then ``--calls``
timed calls each of a 1-row-spine ``get_training_set``, a 1-entity ``lookup`` and a ``read``.

Reported per call kind: median and max wall time, then a breakdown of the instrumented calls
(a second pass, so the wrappers never touch the plain timings), each section's exclusive time:
``registry`` (the registry check, with the registry table opens it makes), ``open`` (feature table
opens made by the read itself), ``history`` (the published check, with its own opens and history
reads), ``read`` (the rest of the table read: file list, dataset, scan), ``join`` (the point-in-time
join, or the latest-per-entity for lookups) and ``other`` (the rest: validation, manifest, ...).
The script patches the library's own functions with ``time.perf_counter`` wrappers; nothing else.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta import feature_tables
from featurelake.io.delta.feature_tables import ensure_check_constraints, write_feature_table
from featurelake.io.delta.registry import FeatureRegistry
from featurelake.io.delta.store import DeltaStore
from featurelake.retrieve import featurestore, training
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SECTIONS = ("registry", "open", "history", "read", "join", "other")


def build_lake(root: Path, publishes: int, registry_commits: int) -> tuple[DeltaStore, FeatureSet]:
    store = DeltaStore(Settings(lake_uri=str(root / "lake")))
    spec = toy_spec()
    registry = FeatureRegistry(store)
    for i in range(registry_commits):
        registry.ensure_registered(toy_spec(f"other_{i}"), "rev", actor="bench")
    registry.ensure_registered(spec, "rev", actor="bench")
    rows = pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(100)],
            "event_time": [T0 + timedelta(minutes=i) for i in range(100)],
            "score": [float(i) for i in range(100)],
        },
        schema={"user_id": pl.String, "event_time": UTC_US, "score": pl.Float64},
    )
    ensure_check_constraints(store, spec, check_constraints(spec), rows.clear())
    for n in range(publishes):
        metadata = commits.publish_metadata(spec.ref, n + 1, {}, rows=rows.height)
        write_feature_table(store, spec, rows.with_columns(pl.col("score") + n), metadata=metadata)
    return store, spec


class Sections:
    """Exclusive time per section: time spent in a nested section counts for the inner one only."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, float]] = []
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self.stack:
            outer, since = self.stack[-1]
            self.totals[outer] += now - since
        self.stack.append((name, now))
        try:
            yield
        finally:
            end = time.perf_counter()
            inner, since = self.stack.pop()
            self.totals[inner] += end - since
            if self.stack:
                self.stack[-1] = (self.stack[-1][0], end)

    def top(self) -> str | None:
        return self.stack[-1][0] if self.stack else None


def instrument(sections: Sections) -> Callable[[], None]:
    """Wrap the library's functions; returns the undo."""
    undo: list[Callable[[], None]] = []

    def wrap(owner: Any, name: str, label: str, when: Callable[[], bool] = lambda: True) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not when():
                return original(*args, **kwargs)
            with sections.section(label):
                return original(*args, **kwargs)

        setattr(owner, name, wrapper)
        undo.append(lambda: setattr(owner, name, original))

    wrap(featurestore, "_check_registered", "registry")
    wrap(featurestore, "read_feature_table", "read")
    wrap(training, "read_feature_table", "read")
    wrap(feature_tables, "_require_published", "history")
    wrap(DeltaStore, "table", "open", when=lambda: sections.top() == "read")
    wrap(training, "join_as_of", "join")
    wrap(featurestore, "_latest_per_entity", "join")

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore


def _calls(api: FeatureStore, spec: FeatureSet) -> dict[str, Callable[[], object]]:
    spine = pl.DataFrame(
        {"user_id": ["u5"], "event_time": [T0 + timedelta(hours=1)]},
        schema={"user_id": pl.String, "event_time": UTC_US},
    )
    return {
        "get_training_set": lambda: api.get_training_set(spine, [spec.ref]),
        "lookup": lambda: api.lookup(spine.select("user_id"), [spec.ref]),
        "read": lambda: api.read(spec.ref),
    }


def timed(call: Callable[[], object], calls: int, sections: Sections | None = None, kind: str = "") -> list[float]:
    """Wall seconds of each call (inside an ``other:<kind>`` section when instrumented)."""
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        if sections is None:
            call()
        else:
            with sections.section(f"other:{kind}"):
                call()
        seconds.append(time.perf_counter() - start)
    return seconds


def breakdown(sections: Sections, kind: str, calls: int) -> dict[str, float]:
    """Per-call ms per section of one call kind (sections are shared, so run kinds one at a time)."""
    totals = dict(sections.totals)
    parts = {s: totals.get(s, 0.0) for s in SECTIONS if s != "other"}
    parts["other"] = totals.get(f"other:{kind}", 0.0)
    return {s: 1000 * parts[s] / calls for s in SECTIONS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--publishes", type=int, default=3)
    parser.add_argument("--registry-commits", type=int, default=10)
    parser.add_argument("--label", default="", help="a name for this run in the output (e.g. before, after)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="featurelake-overhead-") as tmp:
        store, spec = build_lake(Path(tmp), args.publishes, args.registry_commits)
        api = FeatureStore(store, [spec])
        plain: dict[str, list[float]] = {}
        for kind, call in _calls(api, spec).items():
            call()  # warm-up: first imports, first open of each table
            plain[kind] = timed(call, args.calls)
        parts: dict[str, dict[str, float]] = {}
        for kind, call in _calls(api, spec).items():
            sections = Sections()
            undo = instrument(sections)
            try:
                timed(call, args.calls, sections, kind)
            finally:
                undo()
            parts[kind] = breakdown(sections, kind, args.calls)

    title = f"retrieval overhead{f' ({args.label})' if args.label else ''}: {args.calls} warm calls, "
    title += f"{args.publishes} publishes, {args.registry_commits + 1} registered sets, local disk"
    print(title)
    print(f"{'call':<18}{'median ms':>10}{'max ms':>9}  " + "".join(f"{s:>9}" for s in SECTIONS))
    for kind, seconds in plain.items():
        row = f"{kind:<18}{1000 * statistics.median(seconds):>10.1f}{1000 * max(seconds):>9.1f}  "
        print(row + "".join(f"{parts[kind][s]:>9.1f}" for s in SECTIONS))
    print("(breakdown: mean ms per call of a second, instrumented pass; sections exclusive)")
    if args.json:
        result = {
            "label": args.label,
            "calls": args.calls,
            "publishes": args.publishes,
            "registry_commits": args.registry_commits,
            "seconds": plain,
            "median_ms": {k: 1000 * statistics.median(v) for k, v in plain.items()},
            "max_ms": {k: 1000 * max(v) for k, v in plain.items()},
            "breakdown_ms": parts,
        }
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

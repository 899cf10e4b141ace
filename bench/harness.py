"""What every benchmark here shares: fresh child processes, peak RSS, timed runs, machine info, reports.

Only the standard library is imported, at module level and below, so that any child can use
this module without paying for (or being measured with) another engine's imports, including
children that run in another environment (Feast's, under ``bench/feast``).

The measurement rules (see ``bench/README.md``):

* one fresh process per engine and stage, so that peak RSS is that engine's own;
* peak RSS is ``VmHWM`` from ``/proc/self/status`` restarted after the inputs are loaded
  (``clear_refs``), not ``ru_maxrss``, which Linux carries over from the parent across fork + exec;
* only the call is timed: inputs are loaded and modules imported before the clock starts; the
  previous result is dropped and the garbage collector runs between runs, never inside one;
* medians of several runs, with every run, the minimum and the process CPU time recorded.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
MIB = 2**20


# --------------------------------------------------------------------------------------------
# Memory.
# --------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``, not ``ru_maxrss``: Linux carries the
    parent's high-water mark across fork + exec into the child's ``ru_maxrss``, so every child
    would report at least the parent's peak (the data generator's). ``VmHWM`` belongs to the
    child's own address space, which exec creates afresh.
    """
    peak = _proc_status_kib("VmHWM")
    if peak is not None:
        return peak / 2**10
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / MIB if sys.platform == "darwin" else maxrss / 2**10


def current_rss_mib() -> float | None:
    """This process's resident set size now, in MiB (Linux only)."""
    rss = _proc_status_kib("VmRSS")
    return None if rss is None else rss / 2**10


def _proc_status_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def reset_peak_rss() -> bool:
    """Restart the peak-RSS count from the current RSS, so that it covers the timed runs only.

    Loading can briefly hold two copies of an input (Arrow and pandas, say); what matters is the
    memory the call needs with its inputs resident. Linux only (``/proc/self/clear_refs``).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Timed runs, inside a child.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What a child times: ``call`` (the measured work) and an untimed ``before_each`` reset.

    ``before_each`` exists for calls with side effects that must not accumulate across runs,
    e.g. deleting the table a write benchmark created, so that every run writes a new table.
    ``variant`` names an option the call was made with (shown beside the engine's name).
    """

    call: Callable[[], Any]
    before_each: Callable[[], None] | None = None
    variant: str = ""


def measure(label: str, prepare: Callable[[], Job], runs: int) -> tuple[dict[str, Any], Any]:
    """Load inputs (untimed), time ``runs`` calls, and return the record and the last result.

    The previous result is dropped before each call so that two results never coexist, and the
    garbage collector runs between calls rather than inside them.
    """
    load_avg_start = os.getloadavg()
    started = time.perf_counter()
    job = prepare()
    load_seconds = time.perf_counter() - started
    gc.collect()
    peak_after_load = peak_rss_mib()
    peak_reset = reset_peak_rss()
    rss_before_runs = current_rss_mib()
    print(
        f"{label} inputs loaded in {load_seconds:.2f} s (peak RSS while loading {peak_after_load:.0f} MiB, "
        f"resident now {rss_before_runs or 0:.0f} MiB)",
        flush=True,
    )
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    result = None
    for run in range(1, runs + 1):
        result = None  # never hold two results
        if job.before_each is not None:
            job.before_each()
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = job.call()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
        print(f"{label} run {run}/{runs}: {seconds[-1]:.3f} s (CPU {cpu_seconds[-1]:.2f} s)", flush=True)
    record = {
        "variant": job.variant,
        "runs": runs,
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "cpu_seconds": cpu_seconds,  # all threads: less sensitive than wall time to other load
        "median_cpu_seconds": statistics.median(cpu_seconds),
        "load_seconds": load_seconds,
        "peak_rss_mib_while_loading": peak_after_load,  # includes transient copies made while loading
        "rss_mib_before_runs": rss_before_runs,  # inputs resident
        "peak_rss_mib": peak_rss_mib(),  # during the timed runs when peak_rss_reset, else since the start
        "peak_rss_reset": peak_reset,
        "load_avg_start": load_avg_start,
        "load_avg_end": os.getloadavg(),
    }
    return record, result


def spawn(command: Sequence[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run one child to completion (its output goes to ours); a failure stops the benchmark, loudly."""
    completed = subprocess.run(list(command), check=False, env=env, cwd=ROOT)
    if completed.returncode != 0:
        raise SystemExit(f"{what} failed with exit code {completed.returncode}")


# --------------------------------------------------------------------------------------------
# What the numbers were measured on.
# --------------------------------------------------------------------------------------------

LIBRARIES = ("polars", "deltalake", "pyarrow", "pandas", "duckdb", "numpy", "great_expectations", "featurelake")


def machine(libraries: Sequence[str] = LIBRARIES) -> dict[str, Any]:
    """CPU, memory, platform and library versions of this environment."""
    memory = None
    if Path("/proc/meminfo").exists():
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = f"{int(first.split()[1]) / 2**20:.1f} GiB"
    return {
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: version(name) for name in libraries},
    }


def code_revision() -> str:
    """The featurelake commit measured, marked dirty when src/ or features/ differ from it."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "src", "features")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' (src/ or features/ modified)' if changed else ''}"


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def version(name: str) -> str | None:
    """An installed distribution's version, or None when it is not installed here."""
    try:
        return metadata.version(name.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return None


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second, e.g. ``2026-11-26T10:54:48Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_line(info: dict[str, Any]) -> str:
    """One markdown line naming the machine and the library versions."""
    libraries = ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if v)
    return (
        f"{info['cpu_count']} CPUs ({info['cpu']}), {info['memory']}, {info['platform']}, "
        f"Python {info['python']}; {libraries}"
    )


# --------------------------------------------------------------------------------------------
# Reports.
# --------------------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A markdown table; ``right`` says which columns hold numbers (right-aligned)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def write_results(name: str, started_at: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Save a report as ``bench/results/<name>-<UTC time>.json`` and ``.md`` (``started_at``: see :func:`utc_now`)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"{name}-{started_at.replace(':', '').replace('-', '')}"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown)
    return json_path, md_path

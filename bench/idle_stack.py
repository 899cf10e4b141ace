"""What the demo stack costs when nothing happens: flow runs, CPU and memory over an idle window.

Issue 15's goal: a demo stack left idle for 10 minutes after the chain completed creates at most
2 flow runs and uses at most 2 % of one core on average; report its total memory too.

This starts the stack as ``featurelake demo`` does (its own state directory, free ports, the
deployments, the worker and the event source), runs the demo chain, then leaves the stack idle
for ``--minutes`` and samples every process of it from ``/proc``: each service's whole process
tree (the flow-run processes the worker starts in sessions of their own included, and, through
``cutime``/``cstime``, those that ended in the window), CPU ticks, RSS and PSS. It reports:

* flow runs created and started in the window (Prefect API), by deployment and state;
* ``prefect.automation.action.failed`` events in the window and since the stack started;
* average CPU in % of one core, per service and in all, and per minute;
* RSS and PSS per service and in all at the end of the window (RSS counts pages shared between
  forked workers once per process; PSS shares them out, so PSS sums to the real footprint).

Results go to ``bench/results/idle-stack-<UTC>.{json,md}``.

    .venv/bin/python bench/idle_stack.py                 # 10 minutes idle, ≈ 15 minutes in all
    .venv/bin/python bench/idle_stack.py --minutes 1     # smoke
    .venv/bin/python bench/idle_stack.py --env PREFECT_WORKER_QUERY_SECONDS=10   # a tuning
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
GOAL_RUNS, GOAL_CPU_PERCENT = 2, 2.0


# ---------------------------------------------------------------------------------------------
# /proc: the processes of each service and what they use.
# ---------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int, int] | None:
    """(parent pid, process group, own CPU ticks, CPU ticks of its reaped children), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    ppid, pgrp = int(fields[1]), int(fields[2])
    return ppid, pgrp, int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _processes() -> dict[int, tuple[int, int, int, int]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def _trees(roots: dict[str, int], table: dict[int, tuple[int, int, int, int]]) -> dict[str, set[int]]:
    """Each service's processes: its process group and every descendant (flow runs have their own session)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in table.items():
        children.setdefault(ppid, []).append(pid)
    trees = {}
    for name, root in roots.items():
        members = {pid for pid, (_, pgrp, *_) in table.items() if pgrp == root} | ({root} & table.keys())
        todo = list(members)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in members:
                    members.add(child)
                    todo.append(child)
        trees[name] = members
    return trees


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; zeros when it ended meanwhile."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[-1] == "kB"}
    return values.get("Rss", 0), values.get("Pss", 0)


def sample(roots: dict[str, int], memory: bool = False) -> dict[str, dict[str, int]]:
    """Per service: CPU ticks so far, processes alive, and (``memory``) RSS and PSS in KiB.

    The worker's flow-run processes (alive, or ended and reaped by it) are counted apart, as
    ``flow runs``: they are the runs a schedule or an automation started, not the worker's polling.
    """
    table = _processes()
    result = {}
    for name, pids in _trees(roots, table).items():
        groups = {name: (pids, sum(table[p][2] + table[p][3] for p in pids))}
        if name == "worker" and roots[name] in pids:
            root, others = roots[name], pids - {roots[name]}
            children = table[root][3] + sum(table[p][2] + table[p][3] for p in others)
            groups = {name: ({root}, table[root][2]), "flow runs": (others, children)}
        for group, (members, ticks) in groups.items():
            entry = {"ticks": ticks, "processes": len(members)}
            if memory:
                sizes = [_memory_kib(p) for p in members]
                entry |= {"rss_kib": sum(s[0] for s in sizes), "pss_kib": sum(s[1] for s in sizes)}
            result[group] = entry
    return result


def cpu_percent(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], seconds: float
) -> dict[str, float]:
    """Average CPU per service over an interval, in % of one core."""
    return {name: 100.0 * (after[name]["ticks"] - before[name]["ticks"]) / TICKS_PER_SECOND / seconds for name in after}


# ---------------------------------------------------------------------------------------------
# Prefect: runs and failed automation actions in a window.
# ---------------------------------------------------------------------------------------------


def runs_in_window(since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Every flow run created or started in the window, with its deployment and state."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = {d.id: f"{_flow_name(client, d.flow_id)}/{d.name}" for d in client.read_deployments()}
        runs = client.read_flow_runs(limit=200)
    found = []
    for run in runs:
        created = run.created is not None and since <= run.created <= until
        started = run.start_time is not None and since <= run.start_time <= until
        if created or started:
            found.append(
                {
                    "name": run.name,
                    "deployment": names.get(run.deployment_id, "(no deployment)"),
                    "state": run.state.type.value if run.state else "?",
                    "created_in_window": created,
                    "started_in_window": started,
                    "created": str(run.created),
                    "expected_start": str(run.expected_start_time),
                }
            )
    return found


def _flow_name(client: Any, flow_id: Any) -> str:
    return str(client.read_flow(flow_id).name)


def failed_actions(since: dt.datetime, until: dt.datetime) -> int:
    """``prefect.automation.action.failed`` events in the window."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    window = EventOccurredFilter(since=since, until=until)
    event_filter = EventFilter(event=EventNameFilter(name=["prefect.automation.action.failed"]), occurred=window)
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=event_filter, limit=50)
    return int(page.total)


# ---------------------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------------------


def idle_window(roots: dict[str, int], seconds: float, step: float = 60.0) -> list[dict[str, Any]]:
    """Samples every ``step`` seconds over the window (the stack is left alone meanwhile)."""
    samples = [{"at": time.monotonic(), "sample": sample(roots)}]
    end = samples[0]["at"] + seconds
    while (now := time.monotonic()) < end:
        time.sleep(min(step, end - now))
        samples.append({"at": time.monotonic(), "sample": sample(roots)})
    return samples


def measure(state_dir: Path, minutes: float, stage_timeout: float) -> dict[str, Any]:
    """Start the stack, run the chain, measure the idle window; the stack is stopped on the way out."""
    from featurelake.local.demo import run_chain
    from featurelake.local.stack import LocalStack

    shutil.rmtree(state_dir, ignore_errors=True)
    stack = LocalStack(state_dir, prefect_port=None, mlflow_port=None)
    try:
        started = dt.datetime.now(dt.UTC)
        os.environ.update(stack.start(print))
        stack.deploy_and_start_worker(print)
        run_chain(stack, stage_timeout, print)
        roots = {s.name: s.process.pid for s in stack.services}
        print(f"chain completed; leaving the stack idle for {minutes:g} minute(s)")
        since = dt.datetime.now(dt.UTC)
        samples = idle_window(roots, minutes * 60)
        until = dt.datetime.now(dt.UTC)
        memory = sample(roots, memory=True)
        return {
            "minutes": minutes,
            "window": [since.isoformat(), until.isoformat()],
            "runs": runs_in_window(since, until),
            "failed_actions_in_window": failed_actions(since, until),
            "failed_actions_since_start": failed_actions(started, until),
            "cpu_percent": cpu_percent(
                samples[0]["sample"], samples[-1]["sample"], samples[-1]["at"] - samples[0]["at"]
            ),
            "cpu_percent_per_step": [
                sum(cpu_percent(a["sample"], b["sample"], b["at"] - a["at"]).values())
                for a, b in itertools.pairwise(samples)
            ],
            "memory": memory,
            "stack_env": {k: v for k, v in stack.env.items() if k.startswith(("PREFECT_WORKER", "PREFECT_SERVER_S"))},
        }
    finally:
        stack.stop()


def markdown(report: dict[str, Any], info: dict[str, Any], command: str) -> str:
    """The report: verdict, runs, CPU and memory per service."""
    runs = report["runs"]
    created = [r for r in runs if r["created_in_window"]]
    started = [r for r in runs if r["started_in_window"]]
    cpu, memory = report["cpu_percent"], report["memory"]
    total_cpu = sum(cpu.values())
    rss, pss = (sum(m[k] for m in memory.values()) / 1024 for k in ("rss_kib", "pss_kib"))
    met = len(started) <= GOAL_RUNS and len(created) <= GOAL_RUNS and total_cpu <= GOAL_CPU_PERCENT
    lines = [
        f"# Idle demo stack, {report['minutes']:g} minutes after the chain completed",
        "",
        f"`{command}`; {harness.machine_line(info)}; revision {report['revision']}; load average at the end "
        f"{report['load_average']}.",
        "",
        f"**Goal (≤ {GOAL_RUNS} runs, ≤ {GOAL_CPU_PERCENT:g} % of one core): {'met' if met else 'NOT met'}.** "
        f"Flow runs created in the window: {len(created)}; started: {len(started)}. Average CPU of the whole "
        f"stack: {total_cpu:.2f} % of one core. Memory at the end: RSS {rss:.0f} MiB, PSS {pss:.0f} MiB. "
        f"Failed automation actions: {report['failed_actions_in_window']} in the window, "
        f"{report['failed_actions_since_start']} since the stack started.",
        "",
        harness.markdown_table(
            ["service", "CPU % of one core", "processes", "RSS MiB", "PSS MiB"],
            [
                [
                    name,
                    f"{cpu[name]:.2f}",
                    str(m["processes"]),
                    f"{m['rss_kib'] / 1024:.0f}",
                    f"{m['pss_kib'] / 1024:.0f}",
                ]
                for name, m in memory.items()
            ]
            + [["**all**", f"**{total_cpu:.2f}**", "", f"**{rss:.0f}**", f"**{pss:.0f}**"]],
            [False, True, True, True, True],
        ),
        "",
        "CPU of the whole stack per minute (% of one core): "
        + ", ".join(f"{p:.2f}" for p in report["cpu_percent_per_step"]),
        "",
        "Flow runs created or started in the window:",
        "",
        *(_run_lines(runs) or ["(none)"]),
        "",
        f"Worker and runner settings of the stack: {report['stack_env']}",
        "",
    ]
    return "\n".join(lines)


def _run_lines(runs: Iterable[dict[str, Any]]) -> list[str]:
    return [
        f"- {r['deployment']} `{r['name']}`: {r['state']}, created {r['created']}, expected start {r['expected_start']}"
        f"{' (created in the window)' if r['created_in_window'] else ''}"
        f"{' (started in the window)' if r['started_in_window'] else ''}"
        for r in runs
    ]


def main() -> None:
    """Parse the options, measure, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the idle window (default 10)")
    parser.add_argument("--state-dir", type=Path, default=Path(".featurelake/bench-idle"))
    parser.add_argument("--stage-timeout", type=float, default=600.0, help="seconds each stage of the chain may take")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment value for the stack, e.g. PREFECT_WORKER_QUERY_SECONDS=10; repeatable",
    )
    args = parser.parse_args()
    os.environ.update(dict(item.split("=", 1) for item in args.env))
    started_at, info = harness.utc_now(), harness.machine(("prefect", "mlflow", "moto", "featurelake"))
    report = measure(args.state_dir, args.minutes, args.stage_timeout)
    report |= {"revision": harness.code_revision(), "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    command = "python bench/idle_stack.py " + " ".join(sys.argv[1:])
    text = markdown(report, info, command.strip())
    json_path, md_path = harness.write_results("idle-stack", started_at, {**report, "machine": info}, text)
    print(text)
    print(f"written: {json_path} and {md_path}")


if __name__ == "__main__":
    main()

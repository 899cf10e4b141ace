"""Run the stage benchmarks: featurelake against its baselines, stage by stage, on the same data.

    python bench/run.py                       # 10M transactions, every stage, 3 runs
    python bench/run.py --rows 1M             # the smoke size
    python bench/run.py --stages build,validation --engines featurelake,polars

One run generates (or reuses) the transactions, prepares the shared inputs (feature rows, the
published feature table, spines), then for every stage runs each engine in its own fresh child
process (peak RSS its own, medians of ``--runs``), cross-checks their outputs (any difference
exits non-zero) and checks the targets. It prints one markdown table and writes
``bench/results/bench-<rows>-<UTC>.json`` and ``.md``. See ``bench/README.md``.

The parent imports only the standard library; children import their engine's libraries alone.
The stages are listed in ``stages/__init__.py`` (``STAGES``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a directory of scripts, not a package
import report
from generate import DAYS, DEFAULT_WORKDIR, SEED, Params, parse_rows, size_label
from harness import ROOT, code_revision, machine, measure, spawn, utc_now, write_results
from stages import STAGES
from stages.artifacts import is_current as artifact_is_current
from stages.artifacts import needed, produce
from stages.base import Context, Unavailable

FEAST_PROJECT = "bench/feast"
THIS = str(Path(__file__).resolve())


# --------------------------------------------------------------------------------------------
# Children: one engine of one stage, an artifact, or a stage's cross-check.
# --------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """What a child process does, by ``--child`` kind; results go to files in the out directory."""
    ctx = Context(args.data_dir, args.out_dir)
    if args.child == "prepare":
        produce(ctx, args.artifact)
    elif args.child == "verify":
        checked = STAGES[args.stage].verify(ctx, args.engines)
        (ctx.out_dir / f"{args.stage}.verified.json").write_text(json.dumps(checked, indent=2, default=str))
    else:
        run_engine(ctx, args.stage, args.engine, args.runs)


def run_engine(ctx: Context, stage_name: str, engine_name: str, runs: int) -> None:
    """Load, time ``runs`` calls, save the last result for the cross-check, write the record."""
    stage = STAGES[stage_name]
    engine = stage.engine(engine_name)
    path = ctx.output(stage_name, engine_name, ".record.json")
    try:
        record, result = measure(f"[{stage_name} {engine_name}]", lambda: engine.prepare(ctx), runs)
    except Unavailable as reason:
        print(f"[{stage_name} {engine_name}] skipped: {reason}", flush=True)
        path.write_text(json.dumps({"skipped": str(reason)}))
        return
    engine.save(ctx, engine_name, result)
    record.update(stage=stage_name, engine=engine_name, describe=engine.describe, env=engine.env)
    path.write_text(json.dumps(record, indent=2))


# --------------------------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------------------------


def uv() -> str:
    """The uv executable: $UV, else on PATH, else the repository's bootstrap copy."""
    return os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")


def child_command(env: str = "main") -> list[str]:
    """How to start a child: this interpreter, or Feast's environment through ``uv run --frozen``."""
    if env == "feast":
        return [uv(), "run", "--quiet", "--frozen", "--project", FEAST_PROJECT, "python", THIS]
    return [sys.executable, THIS]


def child_env(env: str = "main") -> dict[str, str]:
    """The environment variables for a child; Feast's must not inherit this project's virtualenv."""
    variables = dict(os.environ)
    if env == "feast":
        variables.pop("VIRTUAL_ENV", None)
        variables["PYTHONWARNINGS"] = "ignore::DeprecationWarning"  # ibis on duckdb 2 warns on every query
    return variables


def feast_environment() -> tuple[dict[str, str] | None, str | None]:
    """Versions in Feast's environment, or why it cannot be used (then Feast is skipped, recorded)."""
    probe = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({p: m.version(p) for p in ('feast', 'pandas', 'pyarrow', 'duckdb', 'ibis-framework')}))"
    )
    command = [uv(), "run", "--quiet", "--frozen", "--project", FEAST_PROJECT, "python", "-c", probe]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=child_env("feast"), capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"Feast environment unavailable: {error}"
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        return None, f"Feast environment unavailable (run `uv sync --frozen --project {FEAST_PROJECT}`): {tail}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1])), None


def common_flags(ctx: Context) -> list[str]:
    return ["--data-dir", str(ctx.data_dir), "--out-dir", str(ctx.out_dir)]


def prepare_data(args: argparse.Namespace, stages: list[str]) -> tuple[Context, dict[str, Any]]:
    """Generate (or reuse) the transactions and the artifacts the chosen stages need, in children."""
    params = Params(args.rows, args.days, args.seed)
    generate = [sys.executable, str(Path(__file__).with_name("generate.py")), "--rows", str(args.rows)]
    spawn([*generate, "--days", str(args.days), "--seed", str(args.seed), "--workdir", str(args.workdir)], "generate")
    data_dir = params.directory(args.workdir)
    ctx = Context(data_dir, data_dir / "out")
    shutil.rmtree(ctx.out_dir, ignore_errors=True)
    ctx.out_dir.mkdir(parents=True)
    for name in needed(sorted({a for s in stages for a in STAGES[s].requires})):
        if not artifact_is_current(ctx, name):
            print(f"== preparing {name}", flush=True)
            spawn([*child_command(), "--child", "prepare", "--artifact", name, *common_flags(ctx)], name)
    data = json.loads((data_dir / "transactions.json").read_text())["data"]
    return ctx, data


def run_stage(args: argparse.Namespace, ctx: Context, name: str, feast_problem: str | None) -> dict[str, Any]:
    """Every chosen engine of one stage in its own child, then the cross-check; returns the records."""
    stage, started = STAGES[name], time.perf_counter()
    records: dict[str, Any] = {}
    for engine in stage.engines:
        if args.engines and engine.name not in args.engines:
            continue
        if engine.env == "feast" and feast_problem:
            records[engine.name] = {"skipped": feast_problem}
            continue
        runs = min(args.runs, engine.max_runs or args.runs)
        print(f"== {name}: {engine.name}, {runs} runs, fresh process", flush=True)
        command = [*child_command(engine.env), "--child", "run", "--stage", name, "--engine", engine.name]
        spawn([*command, "--runs", str(runs), *common_flags(ctx)], f"{name} {engine.name}", child_env(engine.env))
        records[engine.name] = json.loads(ctx.output(name, engine.name, ".record.json").read_text())
        records[engine.name]["requested_runs"] = args.runs
    ran = [e for e, r in records.items() if "skipped" not in r]
    verified: dict[str, Any] = {}
    if ran:
        print(f"== {name}: cross-checking {', '.join(ran)}", flush=True)
        check = [*child_command(), "--child", "verify", "--stage", name, "--engines", ",".join(ran)]
        spawn([*check, *common_flags(ctx)], f"{name} cross-check")
        verified = json.loads((ctx.out_dir / f"{name}.verified.json").read_text())
    return {"engines": records, "verified": verified, "seconds": round(time.perf_counter() - started, 1)}


def benchmark(args: argparse.Namespace) -> None:
    """Data, stages, table, report."""
    started_at, started = utc_now(), time.perf_counter()
    load_before, revision = os.getloadavg(), code_revision()
    feast_versions, feast_problem = feast_environment() if any_feast(args.stages) else (None, "not requested")
    if feast_problem and any_feast(args.stages):
        print(f"!! {feast_problem}; Feast is skipped and the report says so", flush=True)
    ctx, data = prepare_data(args, args.stages)
    artifacts = ctx.artifacts()
    results = {name: run_stage(args, ctx, name, feast_problem) for name in args.stages}
    rows = report.table_rows(results, artifacts)
    table = report.main_table(rows)
    summary = {
        "started_at": started_at,
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "code_revision": revision,
        "rows": args.rows,
        "runs": args.runs,
        "data": data,
        "artifacts": artifacts,
        "machine": machine(),
        "feast_environment": feast_versions or feast_problem,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "total_seconds": round(time.perf_counter() - started, 1),
        "table": rows,
        "stages": results,
    }
    markdown = report.markdown(summary, table)
    json_path, md_path = write_results(f"bench-{size_label(args.rows)}", started_at, summary, markdown)
    print(f"\n{table}\n\n{report.verdict(rows)}\nresults in {json_path} and {md_path}", flush=True)


def any_feast(stages: list[str]) -> bool:
    return any(e.env == "feast" for s in stages for e in STAGES[s].engines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_rows, default=10_000_000, help="transactions: 1M, 10M, 50M or an int")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per engine (slow baselines may run fewer)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--engines", default="", help="only these engines (comma-separated; default: all)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where data is kept and reused")
    parser.add_argument("--days", type=int, default=DAYS, help="days the transactions span")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--shapes-scale",
        type=float,
        default=None,
        help="scale the training-set shapes' spines and stations (smoke: 0.1)",
    )
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=("run", "prepare", "verify"), help=hidden)
    parser.add_argument("--stage", help=hidden)
    parser.add_argument("--engine", help=hidden)
    parser.add_argument("--artifact", help=hidden)
    parser.add_argument("--data-dir", type=Path, help=hidden)
    parser.add_argument("--out-dir", type=Path, help=hidden)
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.child:
        return args
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown or not args.stages:
        parser.error(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    args.stages = [s for s in STAGES if s in args.stages]  # registry order: share_of targets need their stage first
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.workdir = args.workdir.resolve()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if getattr(args, "shapes_scale", None) is not None:
        os.environ["BENCH_SHAPES_SCALE"] = str(args.shapes_scale)  # children inherit it (shapes_data.scale)
    if args.child:
        child(args)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()

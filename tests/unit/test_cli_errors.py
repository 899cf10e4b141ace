"""Every command, given a user's mistake, prints one line on stderr naming it and exits non-zero.

The commands are enumerated from the app, so a command registered later fails
``test_every_command_has_bad_input_cases`` until its cases are added here, and is covered by the
option-value test without anything added. The "stack" is unreachable on purpose: the lake is an
empty local directory, and S3, Prefect and MLflow are named at a port that refuses connections
(a socket bound but not listening), so no test waits on a server or a retry.
"""

from __future__ import annotations

import datetime as dt
import socket
import typing
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from featurelake.cli.errors import OneLineErrors, explain
from featurelake.cli.main import app
from featurelake.core import catalog
from featurelake.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = str(ROOT / "deployments" / "prefect.yaml")
RUNNER = CliRunner()


def training_set(spine: str, out: str = "o.parquet", *extra: str) -> list[str]:
    return ["training-set", "--spine", f"{{tmp}}/{spine}", "-f", "customer_txn:v1", "--out", f"{{tmp}}/{out}", *extra]


#: command → (arguments, words the error line must contain, extra environment); {tmp} is the test's directory.
Case = tuple[list[str], tuple[str, ...], dict[str, str]]
CASES: dict[str, list[Case]] = {
    "forget": [
        (["forget", "--source", "transactions"], ("name a subject", "--subject"), {}),
        (["forget", "--source", "nosuch", "--subject", "customer_id=c1"], ("no source 'nosuch'", "transactions"), {}),
        (["forget", "--source", "transactions", "--subject", "customer_id"], ("<column>=<value>",), {}),
        (["forget", "--source", "transactions", "--subject", "card_number=4111"], ("masked",), {}),
        (["forget", "--source", "transactions", "--subject", "email=a@b"], ("no column 'email'",), {}),
    ],
    "materialize": [
        (["materialize", "nosuch:v1"], ("nosuch:v1",), {}),
        (["materialize", "customer_txn:v1", "--version", "-1"], ("--version",), {}),
    ],
    "serve-features": [
        (["serve-features", "--port", "0"], ("--port",), {}),
        (["serve-features", "--features-module", "no_such_package"], ("no_such_package", "--features-module"), {}),
    ],
    "plan": [(["plan", "--features-module", "no_such_package"], ("no_such_package", "--features-module"), {})],
    "apply": [(["apply", "--features-module", "no_such_package"], ("no_such_package",), {})],
    "list": [
        (["list"], ("does not answer", "FEATURELAKE_S3_ENDPOINT_URL"), {"FEATURELAKE_LAKE_URI": "s3://lake"}),
        (["list"], ("invalid setting(s): FEATURELAKE_SSE='none'",), {"FEATURELAKE_SSE": "none"}),
    ],
    "backfill": [
        (["backfill", "customer_txn:v1", "--start", "2026-11-05", "--end", "2026-11-01"], ("before start",), {}),
        (["backfill", "customer_txn:v1", "--start", "tuesday", "--end", "2026-11-01"], ("--start",), {}),
    ],
    "read": [
        (["read", "customer_txn:v9"], ("unknown feature set customer_txn:v9", "known"), {}),
        (["read", "customer_txn"], ("bad feature reference",), {}),
        (["read", "customer_txn:v1"], ("no table", "build or backfill it first"), {}),
        (["read", "customer_txn:v1", "--version", "-3"], ("--version",), {}),
        (["read", "customer_txn:v1", "--as-of", "notatime"], ("--as-of",), {}),
        (["read", "customer_txn:v1", "--out", "{tmp}/nowhere/out.parquet"], ("nowhere", "create it first"), {}),
    ],
    "training-set": [
        (training_set("missing.parquet"), ("--spine", "missing.parquet", "does not exist"), {}),
        (training_set("garbage.parquet"), ("not a parquet file", "write_parquet"), {}),
        (training_set("text_time.parquet"), ("'event_time' is String", "str.to_datetime(time_zone='UTC')"), {}),
        (training_set("other_time.parquet"), ("no time column 'event_time'", "--spine-time", "spine_time="), {}),
        (training_set("other_time.parquet", "no/o.parquet"), ("create it first",), {}),
        (training_set("other_time.parquet", "o.parquet", "--pin", "customer_txn:v1=latest"), ("bad --pin",), {}),
    ],
    "lookup": [
        (["lookup", "nosuch:v1", "--id", "c1"], ("unknown feature set nosuch:v1",), {}),
        (["lookup", "customer_txn:v1", "--id", "c1", "--as-of", "yesterday"], ("--as-of",), {}),
    ],
    "history": [
        (["history", "no_such_set:v1"], ("unknown feature set no_such_set:v1",), {}),
        (["history", "customer_txn:v1", "--limit", "-1"], ("--limit",), {}),
    ],
    "rollback": [
        (["rollback", "customer_txn:v1", "--to-version", "0", "--reason", "x"], ("Prefect", "PREFECT_API_URL"), {}),
        (["rollback", "customer_txn:v1", "--to-version", "-1", "--reason", "x"], ("--to-version",), {}),
    ],
    "vacuum": [
        (["vacuum", "customer_txn:v1", "--retain-hours", "-1"], ("--retain-hours",), {}),
        (["vacuum", "customer_txn:v1"], ("MLflow", "FEATURELAKE_MLFLOW_TRACKING_URI"), {}),
    ],
    "maintain": [
        (["maintain", "--retain-hours", "-1"], ("--retain-hours",), {}),
        (["maintain"], ("MLflow", "does not answer"), {}),
    ],
    "lineage": [(["lineage", "--model", "fraud", "--version", "1"], ("MLflow", "does not answer"), {})],
    "status": [(["status"], ("MLflow", "FEATURELAKE_MLFLOW_TRACKING_URI"), {})],
    "check": [
        (["check", "--samples", "{tmp}/nowhere"], ("no samples directory",), {}),
        (["check", "--features-module", "twice_defined"], ("defined twice", "twice_defined.first.SPEC"), {}),
    ],
    "demo": [(["demo", "--stack-only", "--stage-timeout", "0"], ("--stage-timeout",), {})],
    "upload": [
        (["upload", "transactions", "{tmp}/garbage.parquet"], ("S3 endpoint", "does not answer"), {}),
        (["upload", "transaction", "{tmp}/garbage.parquet"], ("unknown source(s) ['transaction']",), {}),
        (["upload", "transactions", "{tmp}/missing.parquet"], ("missing.parquet", "does not exist"), {}),
    ],
    "watch": [
        (["watch", "--once"], ("S3 endpoint", "does not answer"), {}),
        (["watch", "--interval", "0"], ("--interval",), {}),
    ],
    "pii-key": [(["pii-key"], ("Prefect API", "does not answer", "featurelake demo --stack-only"), {})],
    "serve": [
        (["serve", "--prefect-file", "{tmp}/missing.yaml"], ("--prefect-file", "does not exist"), {}),
        (["serve", "--prefect-file", PREFECT_FILE], ("Prefect API", "PREFECT_API_URL"), {}),
    ],
    "deploy": [
        (["deploy", "--env", "nope", "--prefect-file", PREFECT_FILE], ("no environment 'nope'",), {}),
        (["deploy", "--env", "dev", "--prefect-file", PREFECT_FILE], ("Prefect API", "does not answer"), {}),
    ],
    "quarantine": [(["quarantine", "--since", "notatime"], ("--since", "notatime"), {})],
}


@pytest.fixture(scope="module")
def refused() -> Iterator[str]:
    """A loopback URL whose port refuses connections at once: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def unreachable(tmp_path: Path, refused: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty local lake, services that refuse connections, and the files the cases name."""
    for name, value in {
        "FEATURELAKE_LAKE_URI": str(tmp_path / "lake"),
        "FEATURELAKE_STATE_DIR": str(tmp_path / "state"),
        "FEATURELAKE_S3_ENDPOINT_URL": refused,
        "FEATURELAKE_MLFLOW_TRACKING_URI": refused,
        "PREFECT_API_URL": f"{refused}/api",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FEATURELAKE_DEBUG", raising=False)
    _write_inputs(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "packages"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    catalog.load.cache_clear()


def _write_inputs(tmp: Path) -> None:
    (tmp / "garbage.parquet").write_text("customer_id,event_time\nc1,2026-11-01\n")
    at = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    pl.DataFrame({"customer_id": ["c1"], "event_time": ["2026-11-03T00:00:00Z"]}).write_parquet(
        tmp / "text_time.parquet"
    )
    pl.DataFrame({"customer_id": ["c1"], "label_time": [at]}).write_parquet(tmp / "other_time.parquet")
    package = tmp / "packages" / "twice_defined"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    copy = (
        "import dataclasses\nfrom features.customer_txn import CUSTOMER_TXN\n\n"
        "SPEC = dataclasses.replace(CUSTOMER_TXN, owner='{}')\n"
    )
    (package / "first.py").write_text(copy.format("a"))
    (package / "second.py").write_text(copy.format("b"))


def registered() -> list[str]:
    """Every command of the app, by the name users type."""
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def one_line_error(args: list[str]) -> str:
    """Run the CLI in-process; assert it failed with exactly one line, on stderr, and no traceback."""
    result = RUNNER.invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert result.stderr.strip() == lines[0], result.output
    assert not result.stdout.strip(), result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_every_command_has_bad_input_cases() -> None:
    missing = sorted(set(registered()) - set(CASES))
    assert not missing, f"add user-mistake cases for {missing} to CASES"


@pytest.mark.parametrize(
    ("command", "args", "words", "env"),
    [pytest.param(c, *case, id=f"{c}-{i}") for c in sorted(CASES) for i, case in enumerate(CASES[c])],
)
def test_a_user_mistake_is_one_line_naming_it(
    command: str,
    args: list[str],
    words: tuple[str, ...],
    env: dict[str, str],
    unreachable: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if command not in registered():
        pytest.skip(f"{command} is not registered in this build")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = one_line_error([a.replace("{tmp}", str(unreachable)) for a in args])
    for word in words:
        assert word in line, line


def numeric_options() -> list[tuple[str, str]]:
    """(command, option) for every option taking a number or a time: each must refuse a word in one line."""
    found = []
    for info in app.registered_commands:
        assert info.name is not None
        assert info.callback is not None
        hints = typing.get_type_hints(info.callback)
        command = typer.main.get_command(app).commands[info.name]  # type: ignore[attr-defined]
        for param in command.params:
            kinds = set(typing.get_args(hints[param.name])) | {hints[param.name]}
            if kinds & {int, float, dt.datetime} and param.opts[0].startswith("--"):
                found.append((info.name, param.opts[0]))
    return found


@pytest.mark.parametrize(("command", "option"), numeric_options())
def test_an_option_value_of_the_wrong_kind_is_one_line_naming_the_option(
    command: str, option: str, unreachable: Path
) -> None:
    line = one_line_error([command, option, "a-word"])
    assert f"'{option}'" in line
    assert "--help" in line


def test_the_demo_has_a_stack_only_switch() -> None:
    assert "--stack-only" in RUNNER.invoke(app, ["demo", "--help"]).output


def _bug_app() -> typer.Typer:
    bugs = typer.Typer(cls=OneLineErrors)

    @bugs.command()
    def attribute() -> None:
        raise AttributeError("'NoneType' object has no attribute 'frame'")

    @bugs.command()
    def lookup() -> None:
        spec = catalog.load("features").get("customer_txn", 1)
        catalog.Catalog().expectations_path(spec)  # featurelake's own dict lookup of a missing key: a bug

    return bugs


@pytest.mark.parametrize("command", ["attribute", "lookup"])
def test_a_bug_keeps_its_traceback(command: str) -> None:
    result = RUNNER.invoke(_bug_app(), [command])

    assert result.exit_code == 1
    assert isinstance(result.exception, AttributeError | KeyError)  # not swallowed: typer prints the traceback
    assert explain(result.exception) is None


def test_the_debug_switch_shows_every_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELAKE_DEBUG", "1")
    with pytest.raises(KeyError) as refusal:
        catalog.load("features").get("customer_txn", 9)

    assert explain(refusal.value) is None
    assert explain(FileNotFoundError(2, "No such file or directory", "x.parquet")) is None


def test_a_refusal_of_the_library_and_a_missing_file_are_one_line() -> None:
    with pytest.raises(KeyError) as refusal:
        catalog.load("features").get("customer_txn", 9)

    known = sorted(catalog.load("features").feature_sets)
    assert explain(refusal.value) == f"unknown feature set customer_txn:v9; known: {known}"
    missing = FileNotFoundError(2, "No such file or directory", "spine.parquet")
    assert explain(missing) == "spine.parquet: No such file or directory; check the path"
    assert explain(ValueError("invalid literal for int() with base 10: 'x'")) is None  # not raised by us

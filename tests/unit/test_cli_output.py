"""What the commands print: aligned tables, whole values, no colour when piped, JSON for scripts.

A local-filesystem lake holds the registry and one published feature table (customer_txn:v1
computed from a few days of synthetic transactions). CliRunner output is not a terminal, so it
is what a pipe gets; one test runs the real command on a pseudo-terminal for the colours.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from typer.testing import CliRunner

from featurelake.cli import output
from featurelake.cli.main import app
from featurelake.core import commits
from featurelake.core.featureset import compute_features
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.local.synthetic import generate
from featurelake.settings import Settings, get_settings
from features.customer_txn import CUSTOMER_TXN

RUNNER = CliRunner()
ANSI = "\x1b["


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local lake: the registry applied, customer_txn:v1 published once from synthetic data."""
    monkeypatch.setenv("FEATURELAKE_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("FEATURELAKE_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    assert RUNNER.invoke(app, ["apply"]).exit_code == 0
    transactions = generate(customers=4, merchants=2, days=2).transactions
    features = compute_features(CUSTOMER_TXN, transactions)
    metadata = commits.publish_metadata(CUSTOMER_TXN.ref, 1, {commits.ACTOR: "tests"}, features.height)
    write_feature_table(DeltaStore(Settings()), CUSTOMER_TXN, features, metadata=metadata)
    yield tmp_path
    get_settings.cache_clear()


def lines_of(args: list[str]) -> list[str]:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ANSI not in result.output  # piped: no colour
    lines = result.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)  # no trailing blanks for scripts to strip
    return lines


def test_list_is_an_aligned_table_with_whole_values_and_json(lake: Path) -> None:
    header, *rows = lines_of(["list"])

    columns = ["name", "version", "status", "fingerprint", "owner", "created_at", "code_revision", "description"]
    assert header.split() == columns
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {"customer_txn", "merchant_txn"}
    assert by_name["customer_txn"].endswith(CUSTOMER_TXN.description)  # not cut, not wrapped at 80
    assert len(by_name["customer_txn"]) > 80
    assert header.index("description") == by_name["customer_txn"].index(CUSTOMER_TXN.description)  # aligned
    listed = json.loads(RUNNER.invoke(app, ["list", "--json"]).stdout)
    assert {(r["name"], r["version"], r["status"]) for r in listed} == {
        ("customer_txn", 1, "active"),
        ("merchant_txn", 1, "active"),
    }


def test_read_shows_every_column_whole_and_json_gives_the_rows(lake: Path) -> None:
    title, header, *rows = lines_of(["read", CUSTOMER_TXN.ref, "--limit", "2"])

    assert title.endswith("rows, the first 2 shown")
    assert header.split() == [*CUSTOMER_TXN.key_columns, *CUSTOMER_TXN.feature_names]  # no "…" column
    assert len(rows) == 2
    read = json.loads(RUNNER.invoke(app, ["read", CUSTOMER_TXN.ref, "--limit", "0", "--json"]).stdout)
    assert read["feature_set"] == CUSTOMER_TXN.ref
    assert len(read["head"]) == read["rows"] > 2
    assert set(read["head"][0]) == {*CUSTOMER_TXN.key_columns, *CUSTOMER_TXN.feature_names}


def test_lookup_history_and_plan_print_tables_and_json(lake: Path) -> None:
    header, *features = lines_of(["lookup", CUSTOMER_TXN.ref, "--id", "c00001", "--id", "nobody"])
    assert header.split() == ["feature", "c00001", "nobody"]
    assert {line.split()[0] for line in features} == {"customer_txn__v1__event_time", *CUSTOMER_TXN.feature_names}
    looked_up = json.loads(RUNNER.invoke(app, ["lookup", CUSTOMER_TXN.ref, "--id", "c00001", "--json"]).stdout)
    assert looked_up[0]["customer_id"] == "c00001"

    _, header, *commits_shown = lines_of(["history", CUSTOMER_TXN.ref])
    assert header.split()[:2] == ["version", "time"]
    assert [line.split()[0] for line in commits_shown] == ["0"]
    assert json.loads(RUNNER.invoke(app, ["history", CUSTOMER_TXN.ref, "--json"]).stdout)[0]["version"] == 0

    *_, verdict = lines_of(["plan"])
    assert verdict == "The registry matches the code."
    assert json.loads(RUNNER.invoke(app, ["plan", "--json"]).stdout)[0]["kind"] == "unchanged"


def test_plain_text_is_uncoloured_unwrapped_and_unpadded() -> None:
    grid = output.table("name", "note")
    grid.add_row(output.cell("x", "red"), Text("a " * 100))
    grid.add_row(output.cell(None), output.cell("[not markup]"))

    first, second, third = output.plain(grid).splitlines()

    assert first == "name  note"
    assert second == "x     " + ("a " * 100).rstrip()
    assert third == "-     [not markup]"


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the installed command with stdout on a pseudo-terminal; what the terminal received."""
    command = Path(sys.executable).parent / "featurelake"
    leader, follower = pty.openpty()
    with subprocess.Popen([str(command), *args], stdout=follower, stderr=follower, env=env) as process:
        os.close(follower)
        received = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command closed the terminal
                break
            if not chunk:
                break
            received += chunk
        assert process.wait(timeout=120) == 0, received
    os.close(leader)
    return received.decode()


def test_a_terminal_gets_colour(lake: Path) -> None:
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("NO_COLOR", None)

    coloured = _on_a_terminal(["list"], env)

    assert "\x1b[32mactive" in coloured  # a status in green
    assert "customer_txn" in coloured


def test_no_color_turns_the_colour_off_on_a_terminal(lake: Path) -> None:
    terminal = {"FORCE_COLOR": "1", "COLUMNS": "250"}  # rich treats stdout as a terminal

    coloured = RUNNER.invoke(app, ["list"], env=terminal, color=True)
    plain = RUNNER.invoke(app, ["list"], env={**terminal, "NO_COLOR": "1"}, color=True)

    assert "\x1b[32mactive" in coloured.stdout
    assert "\x1b[32m" not in plain.stdout
    assert "active" in plain.stdout

"""How every command prints: aligned tables, plain text when piped, JSON for scripts, errors on stderr.

rich (typer loads it anyway) draws the tables. On a terminal they are coloured and fitted to its
width, wrapping long cells rather than cutting them; ``NO_COLOR`` turns the colour off. Piped or
captured output has no colour and is not wrapped at 80 columns: a table is as wide as its
content, so a script, ``less -S`` or a CI log gets every value whole, with no trailing blanks.
``--json`` prints one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

#: The console width when the output is not a terminal: wide enough that no table wraps.
UNWRAPPED = 1_000_000
#: How a missing value reads in a table.
MISSING = "-"


def _console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr): a terminal's width there, unbounded when piped."""
    from rich.console import Console

    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else UNWRAPPED
    return Console(stderr=stderr, width=width, markup=False, highlight=False, emoji=False)


def table(*columns: str, right: Iterable[str] = ()) -> Table:
    """An empty table with these headers: no borders, two spaces between columns, values never cut.

    ``right`` names the columns to right-align (counts). The last column may wrap at spaces on a
    terminal (it holds the prose: descriptions, notes, details); the others keep each value on
    one line, and a table too wide for the terminal is shown one record at a time instead.
    """
    from rich.table import Table

    aligned = set(right)
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for index, name in enumerate(columns):
        prose = index == len(columns) - 1
        grid.add_column(name, overflow="fold", no_wrap=not prose, justify="right" if name in aligned else "left")
    return grid


def cell(value: object, style: str = "") -> Text:
    """A value as table text (``-`` for none), never read as rich markup."""
    from rich.text import Text

    return Text(MISSING if value is None else str(value), style=style)


def show(renderable: RenderableType) -> None:
    """Print a table (or any rich renderable) to stdout: styled on a terminal, plain and unwrapped when piped."""
    from rich.table import Table

    console = _console()
    if not console.is_terminal:
        typer.echo(plain(renderable))
    elif isinstance(renderable, Table) and _too_wide(console, renderable):
        console.print(_by_record(renderable))
    else:
        console.print(renderable)


def _too_wide(console: Console, grid: Table) -> bool:
    """Whether the table cannot fit even with its last column wrapped (rich would cut values then)."""
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update_width(UNWRAPPED), grid).minimum > console.width


def _by_record(grid: Table) -> RenderableType:
    """A table too wide for the terminal as one block per row, each column name beside its value."""
    from rich.console import Group
    from rich.rule import Rule

    names = [str(column.header) for column in grid.columns]
    cells = [list(column.cells) for column in grid.columns]
    blocks: list[RenderableType] = []
    for row in range(grid.row_count):
        blocks.append(Rule(f"{row + 1} of {grid.row_count}", align="left", style="dim"))
        record = table("column", "value")
        record.show_header = False
        for name, column in zip(names, cells, strict=True):
            record.add_row(cell(name, "bold"), column[row])
        blocks.append(record)
    return Group(*blocks)


def plain(renderable: RenderableType) -> str:
    """What :func:`show` prints when piped: no colour, no wrapping, no trailing blanks."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=UNWRAPPED, color_system=None, markup=False, highlight=False)
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def say(text: str, style: str = "", *, stderr: bool = False) -> None:
    """One line of prose, coloured on a terminal (``style`` is a rich style such as ``"red"``), never wrapped."""
    from rich.text import Text

    console = _console(stderr=stderr)
    console.print(Text(text, style=style), soft_wrap=True)


def echo_json(data: object) -> None:
    """``data`` as one JSON document on stdout: times in ISO 8601, NaN and infinities as null."""
    typer.echo(json.dumps(_finite(data), indent=2, default=_jsonable))


def records(frame: Any) -> list[dict[str, Any]]:
    """A polars frame as JSON-ready rows."""
    return [dict(row) for row in frame.iter_rows(named=True)]


def frame_table(frame: Any, styles: Mapping[str, Mapping[object, str]] | None = None) -> Table:
    """A polars frame as a table; numbers right-aligned, every value in full.

    ``styles`` colours some values of some columns, e.g. ``{"status": {"retired": "yellow"}}``.
    """
    numeric = [name for name, dtype in frame.schema.items() if dtype.is_numeric()]
    grid = table(*frame.columns, right=numeric)
    by_column = [(styles or {}).get(name, {}) for name in frame.columns]
    for row in frame.iter_rows():
        grid.add_row(*(cell(v, style.get(v, "")) for v, style in zip(row, by_column, strict=True)))
    return grid


def rows_table(columns: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[str] = ()) -> Table:
    """A table of plain rows (already in column order)."""
    from rich.text import Text

    grid = table(*columns, right=right)
    for row in rows:
        grid.add_row(*(v if isinstance(v, Text) else cell(v) for v in row))
    return grid


def _jsonable(value: object) -> object:
    """Times as ISO 8601; anything else JSON cannot hold (paths, decimals, …) as its text."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _finite(data: object) -> object:
    """JSON has no NaN: replace non-finite floats by null, anywhere in ``data``."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data

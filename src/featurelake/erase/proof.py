"""The proof scan: every place featurelake keeps data, searched for a data subject's value and keyed hashes.

- the lake bucket: every version of every object (Delta data files, commit JSON, checkpoints,
  anything else under the lake), or every file of a lake on local disk;
- the raw bucket: every version of every object;
- the online store: every item of every online table;
- MLflow: runs' params, tags, dataset inputs and artifact files; registered models and versions;
- Prefect: artifacts, logs, flow-run parameters, events.

Parquet is compressed, so a byte search alone is vacuous: parquet objects are searched as bytes
(their footer statistics are plain) *and* decoded column by column. Gzip is decompressed first.
Other binaries (a pickled model) are searched as bytes only. A hit names the system, the place
and the kind of needle (``value`` or ``hash``), never the needle.
"""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from featurelake.core.erasure import HASH_PREFIX_CHARS, MIN_TEXT_NEEDLE, Needles
from featurelake.io.aws.scan import object_versions, online_items
from featurelake.io.mlflow.scan import mlflow_contents
from featurelake.io.prefect.scan import prefect_contents
from featurelake.settings import Settings

_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Hit:
    """One place a needle was found: which system, where in it, which kind of needle."""

    system: str
    location: str
    kind: str


@dataclass(frozen=True)
class ProofReport:
    """What a scan found, how much it looked at per system, and what it could not search."""

    hits: tuple[Hit, ...]
    scanned: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """No hit anywhere."""
        return not self.hits

    def rows(self) -> list[dict[str, str]]:
        """The hits as rows (system, location, kind), for a table or JSON."""
        return [{"system": h.system, "location": h.location, "kind": h.kind} for h in self.hits]

    def markdown(self) -> str:
        """The report for a person or a Prefect artifact."""
        scanned = ", ".join(f"{count} {system}" for system, count in sorted(self.scanned.items()))
        lines = [
            f"# Proof scan: {'no trace' if self.clean else f'{len(self.hits)} hit(s)'}",
            "",
            f"Scanned: {scanned}.",
        ]
        if self.hits:
            lines += ["", "| system | where | needle |", "|---|---|---|"]
            lines += [f"| {h.system} | {_cell(h.location)} | {h.kind} |" for h in self.hits]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell (an item key's JSON may hold a ``|``)."""
    return text.replace("|", "\\|")


def scan(settings: Settings, needles: Needles, *, include_raw: bool = True) -> ProofReport:
    """Search every system for ``needles``; see the module docstring for what is searched and how.

    ``include_raw=False`` leaves the raw bucket out (an erasure that does not rewrite raw objects)
    and says so in the notes, so a clean report never overstates what it looked at.
    """
    hits: list[Hit] = []
    scanned: dict[str, int] = {}
    notes = [] if needles.value is not None else ["raw value not given: searched for the keyed hashes only"]
    if needles.value is not None and len(needles.value) < MIN_TEXT_NEEDLE:
        notes.append(f"raw value shorter than {MIN_TEXT_NEEDLE} characters: matched as a whole cell or text only")
    sources: list[tuple[str, Iterable[tuple[str, bytes]]]] = [("lake", _lake(settings))]
    if include_raw:
        sources.append(("raw", _bucket(settings, settings.raw_bucket, "")))
    else:
        notes.append(f"raw bucket {settings.raw_bucket} not scanned (include_raw=False)")
    online = online_items(settings, settings.online_table_prefix)
    sources.append(("online", ((where, text.encode()) for where, text in online)))
    sources.append(("mlflow", mlflow_contents(settings)))
    sources.append(("prefect", ((where, text.encode()) for where, text in prefect_contents(notes))))
    for system, contents in sources:
        scanned[system] = 0
        for where, data in contents:
            scanned[system] += 1
            for place, kinds in _search(where, data, needles, notes):
                hits += [Hit(system, _redacted(place, needles), kind) for kind in sorted(kinds)]
    notes.append("pickled or otherwise encoded binaries (e.g. MLflow model files) are searched as bytes only")
    return ProofReport(tuple(hits), scanned, tuple(_redacted(note, needles) for note in notes))


def _redacted(text: str, needles: Needles) -> str:
    """``text`` with every needle replaced by its kind: an S3 key or an item key may hold the value itself."""
    for digest in needles.hashes:
        text = text.replace(digest, "[hash]").replace(digest[:HASH_PREFIX_CHARS], "[hash]")
    if needles.value:
        text = text.replace(needles.value, "[value]")
    return text


def _lake(settings: Settings) -> Iterator[tuple[str, bytes]]:
    """Every object (version) of an S3 lake, or every file of a lake on local disk."""
    if settings.lake_uri.startswith("s3://"):
        prefix = settings.lake_uri.removeprefix("s3://").partition("/")[2].strip("/")
        yield from _bucket(settings, settings.lake_bucket, f"{prefix}/" if prefix else "")
        return
    root = Path(settings.lake_uri.removeprefix("file://"))
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        yield str(path), path.read_bytes()


def _bucket(settings: Settings, bucket: str, prefix: str) -> Iterator[tuple[str, bytes]]:
    for key, version, data in object_versions(settings, bucket, prefix):
        yield f"s3://{bucket}/{key}" + (f"?versionId={version}" if version else ""), data


def _search(where: str, data: bytes, needles: Needles, notes: list[str]) -> list[tuple[str, set[str]]]:
    """Where in this content a needle is: the content itself, or a decoded parquet column of it.

    Gzip is decompressed first (content that only looks like gzip is searched as it is). Parquet
    is searched as bytes (plain footer statistics) and decoded one column at a time; a parquet
    file that cannot be decoded is named in ``notes``.
    """
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            data = gzip.decompress(data)
    found: list[tuple[str, set[str]]] = [(where, needles.in_bytes(data))]
    if data[:4] == _PARQUET_MAGIC and data[-4:] == _PARQUET_MAGIC:
        try:
            found += list(_parquet_columns(where, data, needles))
        except Exception as error:
            notes.append(f"{where}: parquet not decodable ({type(error).__name__}), searched as bytes only")
    return [(place, kinds) for place, kinds in found if kinds]


def _parquet_columns(where: str, data: bytes, needles: Needles) -> Iterator[tuple[str, set[str]]]:
    """Per top-level column of a parquet file, which needles its decoded cells hold."""
    source = io.BytesIO(data)
    for column in pl.read_parquet_schema(source):
        source.seek(0)
        frame = pl.read_parquet(source, columns=[column])  # in_frame reads nested columns as JSON
        for name, kinds in needles.in_frame(frame).items():
            yield f"{where}#{name}", kinds

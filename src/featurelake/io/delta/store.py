"""Delta Lake tables in the lake: read (optionally pinned), write with audit metadata.

Every write names who and why in its commit metadata; publishes carry an app transaction, so a
retried publish is recognised and skipped. Only a predicate overwrite that lost a commit race is
re-run (on the newer snapshot): replacing the rows a predicate selects is idempotent, nothing else is.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from pydantic import SecretStr

from featurelake.core import commits
from featurelake.settings import Settings

logger = logging.getLogger(__name__)

#: A Delta table handle as this adapter returns it: stages annotate with it and never import deltalake.
Table = DeltaTable
#: A commit that lost its race to a concurrent writer (delta-rs's ``CommitFailedError``).
CommitConflictError = CommitFailedError

#: Attempts of one predicate overwrite that keeps losing commit races, and its backoff (seconds).
_OVERWRITE_ATTEMPTS = 6
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 2.0
#: Commit metadata of the empty create that precedes a first predicate overwrite.
_CREATE_METADATA = {commits.OPERATION: commits.Operation.CREATE_TABLE}


@dataclass(frozen=True)
class AppTransaction:
    """An idempotency marker: ``app_id`` has applied input up to ``version``."""

    app_id: str
    version: int


class DeltaStore:
    """Tables under the lake root, addressed by relative path (``bronze/transactions``)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._options = settings.delta_storage_options()

    def __reduce__(self) -> tuple[type[DeltaStore], tuple[Settings]]:
        """Pickled (for a Dask worker) without the settings' secrets: the lake needs none of them."""
        secrets = {name: None for name, value in self._settings if isinstance(value, SecretStr)}
        return DeltaStore, (self._settings.model_copy(update=secrets),)

    @property
    def settings(self) -> Settings:
        """The settings the store was opened with (the same endpoint serves the other AWS adapters)."""
        return self._settings

    @property
    def storage_options(self) -> dict[str, str]:
        """The object-store options every table access uses (endpoint, region, encryption)."""
        return dict(self._options)

    def uri(self, path: str) -> str:
        """The full URI of a table."""
        return self._settings.table_uri(path)

    def table(self, path: str, version: int | None = None, as_of: datetime | None = None) -> DeltaTable | None:
        """The table at a version or a point in time (latest by default), or None if it was never written.

        Raises:
            ValueError: for a version or time at which the table did not exist, naming the table.
        """
        try:
            table = DeltaTable(self.uri(path), version=version, storage_options=self._options)
        except TableNotFoundError:
            return None
        except Exception as error:  # delta-rs reports a missing version as a generic error
            if version is not None:
                latest = self.version(path)
                known = "it has none" if latest is None else f"its versions are 0..{latest}"
                raise ValueError(
                    f"Delta table {self.uri(path)} has no version {version}: {known}; "
                    f"`featurelake history` lists them ({error})"
                ) from error
            raise
        if as_of is not None:
            _load_as_of(table, as_of, self.uri(path))
        return table

    def version(self, path: str) -> int | None:
        """The latest version of a table, or None if it does not exist."""
        table = self.table(path)
        return None if table is None else table.version()

    def read(
        self, path: str, version: int | None = None, *, as_of: datetime | None = None, columns: list[str] | None = None
    ) -> pl.DataFrame:
        """Read a table, pinned to a version or a point in time when given.

        Raises:
            FileNotFoundError: naming the table when it does not exist.
        """
        return pl.from_arrow(self.existing(path, version, as_of).to_pyarrow_table(columns=columns))  # type: ignore[return-value]

    def existing(self, path: str, version: int | None = None, as_of: datetime | None = None) -> DeltaTable:
        """Like :meth:`table`, for callers that need the table to exist.

        Raises:
            FileNotFoundError: naming the table when it does not exist.
        """
        table = self.table(path, version, as_of)
        if table is None:
            raise FileNotFoundError(f"Delta table {self.uri(path)} does not exist")
        return table

    def app_version(self, path: str, app_id: str) -> int | None:
        """The last input version an app committed to this table, if any."""
        table = self.table(path)
        return None if table is None else table.transaction_version(app_id)

    def write(
        self,
        path: str,
        frame: pl.DataFrame,
        *,
        mode: Literal["append", "overwrite"],
        metadata: Mapping[str, Any],
        predicate: str | None = None,
        app_transaction: AppTransaction | None = None,
        partition_by: list[str] | None = None,
        writer_properties: WriterProperties | None = None,
    ) -> int:
        """Write one commit and return the table version it created.

        A predicate overwrite of a missing table first creates it empty (one more commit), and a
        predicate overwrite without an app transaction is retried when a concurrent commit wins
        the race (see :meth:`_overwrite_where`). Appends are not (delta-rs already retries those
        that do not conflict, and repeating one would add its rows twice), nor are writes that
        carry an app transaction (their version marks input as applied exactly once).
        """
        transactions = [Transaction(app_transaction.app_id, app_transaction.version)] if app_transaction else None
        properties = CommitProperties(
            custom_metadata={k: str(v) for k, v in metadata.items()},
            app_transactions=transactions,
        )
        if mode == "overwrite" and predicate is not None and app_transaction is None:
            return self._overwrite_where(path, frame, predicate, properties, partition_by, writer_properties)
        table = self.table(path)
        options: dict[str, Any] = {
            "mode": mode,
            "predicate": predicate if table is not None else None,  # a first write creates the table
            "schema_mode": _schema_mode(mode, predicate),
            "storage_options": self._options,
            "commit_properties": properties,
            "partition_by": partition_by,
            **_writer(writer_properties),
        }
        write_deltalake(table if table is not None else self.uri(path), frame.to_arrow(), **options)
        if table is None:  # created by this write: load it to learn its version
            return self.version(path) or 0
        table.update_incremental()
        return table.version()

    def _overwrite_where(
        self,
        path: str,
        frame: pl.DataFrame,
        predicate: str,
        properties: CommitProperties,
        partition_by: list[str] | None,
        writer_properties: WriterProperties | None = None,
    ) -> int:
        """Replace the rows matching ``predicate`` with ``frame``; on a lost commit race, redo it.

        delta-rs refuses the commit (``CommitFailedError``) when a concurrent writer changed rows
        the predicate selects, or created the table first. Re-running the same overwrite on the
        newer snapshot is safe: whatever the other writer left under the predicate is replaced,
        so each selected row is there once. Attempts are bounded, with jittered exponential
        backoff so that writers racing on the same rows stop colliding.

        Returns:
            The table version this write committed.
        """
        for attempt in range(1, _OVERWRITE_ATTEMPTS):
            try:
                return self._overwrite_once(path, frame, predicate, properties, partition_by, writer_properties)
            except CommitFailedError as error:
                delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
                logger.debug(
                    "overwrite of %s lost a commit race (attempt %d/%d: %s); retrying in %.2fs",
                    self.uri(path),
                    attempt,
                    _OVERWRITE_ATTEMPTS,
                    str(error).partition("\n")[0],
                    delay,
                )
                time.sleep(delay)
        # a conflict now propagates
        return self._overwrite_once(path, frame, predicate, properties, partition_by, writer_properties)

    def _overwrite_once(
        self,
        path: str,
        frame: pl.DataFrame,
        predicate: str,
        properties: CommitProperties,
        partition_by: list[str] | None,
        writer_properties: WriterProperties | None = None,
    ) -> int:
        """One predicate overwrite on the latest snapshot; returns the version it committed."""
        table = self.existing_or_created_empty(path, frame, partition_by)
        write_deltalake(
            table,
            frame.to_arrow(),
            mode="overwrite",
            predicate=predicate,
            storage_options=self._options,
            commit_properties=properties,
            partition_by=partition_by,
            **_writer(writer_properties),
        )
        return table.version()  # the write moved this snapshot to the version it committed

    def existing_or_created_empty(self, path: str, frame: pl.DataFrame, partition_by: list[str] | None) -> DeltaTable:
        """The table, created with the frame's schema and no rows if it is missing.

        Creating it with the rows instead is not safe: when two writers create a table at once,
        delta-rs 1.6 may commit the loser's create as the next version on top of the winner's,
        adding its rows a second time, and a create that finds the table already there turns
        into an overwrite of the whole table. An empty create (``mode="ignore"``) adds no rows
        however it races; the rows then go in as a predicate overwrite like any other. The
        create commit is marked as such and names no batch: the write that follows does.
        """
        table = self.table(path)
        if table is not None:
            return table
        write_deltalake(
            self.uri(path),
            frame.clear().to_arrow(),
            mode="ignore",
            storage_options=self._options,
            commit_properties=CommitProperties(custom_metadata=_CREATE_METADATA),
            partition_by=partition_by,
        )
        return self.existing(path)

    def history(self, path: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first, including each commit's custom metadata."""
        table = self.table(path)
        return [] if table is None else table.history(limit)

    def find_commit(self, path: str, key: str, value: str) -> dict[str, Any] | None:
        """The newest commit (version and metadata) whose metadata has ``key == value``."""
        for commit in self.history(path):
            if str(commit.get(key)) == value:
                return commit
        return None


def _load_as_of(table: DeltaTable, as_of: datetime, uri: str) -> None:
    """Time travel to the newest version committed at or before ``as_of``.

    Uses the millisecond commit timestamps in the log, not object-store modification times:
    S3 reports those to the second, which would pick the wrong version for commits in one second.

    Raises:
        ValueError: when ``as_of`` is naive or older than the table.
    """
    if as_of.tzinfo is None:
        raise ValueError(f"time travel on {uri}: as_of {as_of.isoformat()} has no time zone; pass an aware datetime")
    cutoff = as_of.timestamp() * 1000
    log = table.history()
    eligible = [int(c["version"]) for c in log if c["timestamp"] <= cutoff]
    if not eligible:
        created = datetime.fromtimestamp(min(c["timestamp"] for c in log) / 1000, tz=UTC).isoformat()
        raise ValueError(f"time travel on {uri}: the table did not exist at {as_of.isoformat()} (created {created})")
    table.load_as_version(max(eligible))


def _writer(properties: WriterProperties | None) -> dict[str, Any]:
    """delta-rs's ``writer_properties`` argument, left out for its defaults."""
    return {"writer_properties": properties} if properties is not None else {}


def _schema_mode(mode: str, predicate: str | None) -> Literal["merge", "overwrite"] | None:
    """Appends may add columns; a full overwrite replaces the schema; a partial one keeps it."""
    if mode == "append":
        return "merge"
    return None if predicate else "overwrite"

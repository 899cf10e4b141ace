"""The Delta primitives of an erasure on a real lake (moto S3): delete, find, purge, scrub the log.

Small tables are written with :class:`DeltaStore`; every check reads back what delta-rs and the
object store really hold: rows, the files of each version, and every byte under ``_delta_log/``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import threading

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from featurelake.core.erasure import Needles
from featurelake.core.pii import hmac_hex
from featurelake.erase import physical
from featurelake.io.delta import erasure
from featurelake.io.delta.erasure import FileRecord, delete_rows, files_containing, purge_files, referenced_files
from featurelake.io.delta.erasure_files import files_on_storage, lake_fs, log_entries, read_bytes
from featurelake.io.delta.maintenance import data_files
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings

KEY = b"erasure-delta-test-key-32-bytes!"
SUBJECT = "cust-0001"
SUBJECT_HASH = hmac_hex(KEY, SUBJECT)
NEEDLES = Needles(value=SUBJECT, hashes=frozenset({SUBJECT_HASH}))
META = {"featurelake.operation": "erase", "featurelake.erasure_request": "req-1"}
BRONZE = "bronze/customers"


def _rows(*ids: str, source_key: str = "raw/a.ndjson") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": list(ids),
            "email_hash": [hmac_hex(KEY, i) for i in ids],
            "amount": list(range(len(ids))),
            "_source_key": [source_key] * len(ids),
        }
    )


def _log_holds(store: DeltaStore, path: str) -> set[str]:
    """Which needle kinds any log entry holds: raw bytes, and checkpoints' decoded values too."""
    fs, found = lake_fs(store, path), set()
    for name in log_entries(fs):
        data = read_bytes(fs, name)
        found |= NEEDLES.in_bytes(data)
        if name.endswith(".parquet"):
            found |= NEEDLES.in_text(json.dumps(pq.read_table(pa.BufferReader(data)).to_pylist(), default=str))
    return found


def _customers(store: DeltaStore, path: str) -> list[str]:
    return sorted(store.read(path, columns=["customer_id"])["customer_id"].to_list())


def test_delete_names_the_files_it_removed_and_a_no_match_commits_nothing(settings: Settings) -> None:
    store = DeltaStore(settings)
    assert delete_rows(store, BRONZE, f"customer_id = '{SUBJECT}'", META) == erasure.DeleteOutcome(None, 0, ())
    store.write(BRONZE, _rows(SUBJECT, "cust-0002"), mode="append", metadata={})
    store.write(BRONZE, _rows("cust-0003"), mode="append", metadata={})
    before = data_files(store.existing(BRONZE))

    nothing = delete_rows(store, BRONZE, "customer_id = 'cust-9999'", META)
    assert nothing == erasure.DeleteOutcome(None, 0, ())
    assert store.version(BRONZE) == 1

    outcome = delete_rows(store, BRONZE, f"customer_id = '{SUBJECT}'", META)
    after = data_files(store.existing(BRONZE))
    assert outcome.version == 2 == store.version(BRONZE)
    assert outcome.rows_deleted == 1
    assert set(outcome.files_removed) == before - after
    assert len(outcome.files_removed) == 1
    assert _customers(store, BRONZE) == ["cust-0002", "cust-0003"]
    assert store.history(BRONZE, 1)[0]["featurelake.erasure_request"] == "req-1"


class _RacedStore(DeltaStore):
    """A real store whose first table load is followed by a real concurrent ingest commit (a lost race)."""

    def __init__(self, settings: Settings, path: str, rows: pl.DataFrame) -> None:
        super().__init__(settings)
        self._path, self._rows, self.raced = path, rows, False

    def table(self, path: str, version: int | None = None, as_of: object = None) -> DeltaTable | None:  # type: ignore[override]
        table = super().table(path, version)
        if path == self._path and not self.raced:
            self.raced = True
            DeltaStore(self.settings).write(path, self._rows, mode="append", metadata={"featurelake.flow": "ingest"})
        return table


def test_a_delete_that_loses_its_race_is_redone_and_keeps_the_winners_rows(settings: Settings) -> None:
    DeltaStore(settings).write(BRONZE, _rows(SUBJECT, "cust-0002"), mode="append", metadata={})
    store = _RacedStore(settings, BRONZE, _rows(SUBJECT, "cust-0005", source_key="raw/b.ndjson"))

    outcome = delete_rows(store, BRONZE, f"customer_id = '{SUBJECT}'", META)

    assert store.raced
    assert (outcome.version, outcome.rows_deleted) == (2, 2), "redone on the ingest's snapshot"
    assert _customers(store, BRONZE) == ["cust-0002", "cust-0005"]


def test_deletes_racing_real_ingest_threads_lose_no_row(settings: Settings) -> None:
    store = DeltaStore(settings)
    subjects = [f"cust-10{i:02d}" for i in range(6)]
    store.write(BRONZE, _rows(*subjects, "cust-0002"), mode="append", metadata={})
    keys = [f"raw/obj-{i}.ndjson" for i in range(12)]

    errors: list[BaseException] = []

    def ingest() -> None:  # as ingest writes: a predicate overwrite per object (retried by the store)
        try:
            for i, key in enumerate(keys):
                rows = _rows(f"cust-20{i:02d}", source_key=key)
                store.write(BRONZE, rows, mode="overwrite", predicate=f"_source_key = '{key}'", metadata={})
        except BaseException as error:
            errors.append(error)

    outcomes: list[erasure.DeleteOutcome] = []
    start = threading.Barrier(2)

    def erase() -> None:
        start.wait()
        outcomes.extend(delete_rows(store, BRONZE, f"customer_id = '{s}'", META, attempts=8) for s in subjects)

    threads = [threading.Thread(target=lambda: (start.wait(), ingest())), threading.Thread(target=erase)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert all(o.rows_deleted == 1 for o in outcomes)
    assert _customers(store, BRONZE) == sorted(["cust-0002", *(f"cust-20{i:02d}" for i in range(12))])
    order = "".join("D" if c["operation"] == "DELETE" else "W" for c in reversed(store.history(BRONZE)))
    assert re.search("D.*W.*D", order), f"the deletes and the ingest commits interleaved: {order}"


def test_quarantine_raw_content_loses_exactly_the_subjects_lines_in_one_commit(settings: Settings) -> None:
    store, path = DeltaStore(settings), "quarantine/customers"
    line = lambda cid: json.dumps({"customer_id": cid, "amount": "x"})  # noqa: E731
    raws = [
        line(SUBJECT),  # a rejected row of the subject: deleted
        line("cust-0002"),  # someone else's: kept
        f"{line(SUBJECT)}\n{line('cust-0003')}\n",  # a rejected file's start: rewritten
        f"{line(SUBJECT)}\n{line(SUBJECT)}\n",  # only the subject: deleted
        f"{line(SUBJECT)}\n{line('cust-0003')}\n",  # the same record again: rewritten the same way
        "not json at all",
    ]
    frame = pl.DataFrame({"_source_key": [f"raw/{i}" for i in range(6)], "_reason": ["bad"] * 6, "_raw": raws})
    store.write(path, frame, mode="append", metadata={})

    outcome = erasure.rewrite_raw_content(store, path, "customer_id", frozenset({SUBJECT}), META)

    assert (outcome.version, outcome.rows_deleted, outcome.rows_rewritten) == (1, 5, 2)
    left = store.read(path).sort("_source_key")
    assert left["_source_key"].to_list() == ["raw/1", "raw/2", "raw/4", "raw/5"]
    assert left["_raw"].to_list() == [line("cust-0002"), f"{line('cust-0003')}\n", f"{line('cust-0003')}\n", raws[5]]
    commit = store.history(path, 1)[0]
    assert commit["operation"] == "MERGE"
    assert not NEEDLES.in_text(json.dumps(commit))
    again = erasure.rewrite_raw_content(store, path, "customer_id", frozenset({SUBJECT}), META)
    assert again.version is None
    assert store.version(path) == 1


def test_old_versions_files_are_found_pruned_by_statistics_and_read(settings: Settings) -> None:
    store = DeltaStore(settings)
    store.write(BRONZE, _rows(SUBJECT, "cust-0002"), mode="append", metadata={})  # only version 0 reads it
    old = data_files(store.existing(BRONZE))
    store.write(BRONZE, _rows("cust-0000", "cust-0005"), mode="overwrite", metadata={})  # brackets the subject
    store.existing(BRONZE).create_checkpoint()
    store.write(BRONZE, _rows("cust-0007", "cust-0009"), mode="append", metadata={})

    files = {f.path: f for f in referenced_files(store, BRONZE)}
    live = data_files(store.existing(BRONZE))
    assert set(files) == old | live
    assert len(files) == 3
    assert {p for p, f in files.items() if f.live} == live
    (old_file,) = old
    assert files[old_file].min_values["customer_id"] == SUBJECT
    assert files[old_file].max_values["amount"] == 1

    wanted = frozenset({SUBJECT})
    assert files_containing(store, BRONZE, list(files.values()), "customer_id", wanted) == old
    hidden = FileRecord(old_file, False, {"customer_id": "zz-0"}, {"customer_id": "zz-9"}, 1)
    assert files_containing(store, BRONZE, [hidden], "customer_id", wanted) == set(), "pruned, so never read"
    hashes = frozenset({SUBJECT_HASH})
    assert files_containing(store, BRONZE, list(files.values()), "email_hash", hashes) == old

    assert purge_files(store, BRONZE, old) == sorted(old)
    assert purge_files(store, BRONZE, old) == [], "idempotent"
    assert files_containing(store, BRONZE, list(files.values()), "customer_id", wanted) == set()
    assert _customers(store, BRONZE) == ["cust-0000", "cust-0005", "cust-0007", "cust-0009"]
    with pytest.raises(ValueError, match="not a data file"):
        purge_files(store, BRONZE, ["_delta_log/00000000000000000000.json"])


def test_scrub_leaves_no_trace_in_the_log_and_every_version_still_loads(settings: Settings) -> None:
    store = DeltaStore(settings)
    store.write(BRONZE, _rows(SUBJECT, "cust-0002"), mode="append", metadata={})
    store.write(BRONZE, _rows("cust-0003", "cust-0004"), mode="append", metadata={})
    store.existing(BRONZE).create_checkpoint()  # copies the subject's statistics into parquet
    outcome = delete_rows(store, BRONZE, f"customer_id IN ('{SUBJECT}', 'cust-0077')", META)
    store.write(BRONZE, _rows("cust-0005"), mode="append", metadata={})
    assert _log_holds(store, BRONZE) == {"value", "hash"}, "statistics and the predicate hold the subject"

    records = referenced_files(store, BRONZE)
    held = files_containing(store, BRONZE, records, "customer_id", frozenset({SUBJECT}))
    assert held == set(outcome.files_removed)
    purge_files(store, BRONZE, held)
    result = erasure.scrub_log(store, BRONZE, frozenset(held), NEEDLES, frozenset({"req-1"}))

    assert (result.commits_rewritten, result.checkpoints_rewritten, result.residual) == (2, 1, ())
    assert _log_holds(store, BRONZE) == set()
    fs = lake_fs(store, BRONZE)
    pointer = json.loads(read_bytes(fs, "_delta_log/_last_checkpoint"))
    (checkpoint,) = fs.get_file_info([f"_delta_log/{pointer['version']:020d}.checkpoint.parquet"])
    assert pointer["sizeInBytes"] == checkpoint.size
    assert _customers(store, BRONZE) == ["cust-0002", "cust-0003", "cust-0004", "cust-0005"]
    history = store.history(BRONZE)
    assert [c["version"] for c in history] == [3, 2, 1, 0]
    assert history[1]["operationParameters"]["predicate"] == "[erased: req-1]"
    for version in range(4):
        table = store.existing(BRONZE, version)
        files = data_files(table)
        missing = [i for i in fs.get_file_info(sorted(files)) if i.type != pafs.FileType.File]
        assert bool(missing) == (version < 2), f"version {version}"
        if not missing:
            assert table.to_pyarrow_table().num_rows == {2: 3, 3: 4}[version]
    again = erasure.scrub_log(store, BRONZE, frozenset(held), NEEDLES, frozenset({"req-1"}))
    assert (again.commits_rewritten, again.checkpoints_rewritten) == (0, 0)
    store.write(BRONZE, _rows("cust-0006"), mode="append", metadata={})
    store.existing(BRONZE).create_checkpoint()
    assert len(_customers(store, BRONZE)) == 5


def test_stats_columns_limit_the_statistics_of_files_written_afterwards(settings: Settings) -> None:
    store = DeltaStore(settings)
    store.write(BRONZE, _rows(SUBJECT, "cust-0002"), mode="append", metadata={})
    erasure.set_stats_columns(store, BRONZE, ["_source_key", "amount"])
    version = store.version(BRONZE)
    erasure.set_stats_columns(store, BRONZE, ["_source_key", "amount"])
    assert store.version(BRONZE) == version, "unchanged: no commit"

    store.write(BRONZE, _rows("cust-0003"), mode="append", metadata={})
    delete_rows(store, BRONZE, f"customer_id = '{SUBJECT}'", META)  # rewrites the first file's other row
    newest = store.version(BRONZE)
    assert newest is not None
    for version in (newest - 1, newest):
        fs = lake_fs(store, BRONZE)
        lines = read_bytes(fs, f"_delta_log/{version:020d}.json").decode().splitlines()
        (stats,) = [json.loads(a["add"]["stats"]) for a in map(json.loads, lines) if "add" in a]
        assert set(stats["minValues"]) == set(stats["maxValues"]) == {"_source_key", "amount"}, f"version {version}"
        assert set(stats["nullCount"]) == {"_source_key", "amount"}


def test_a_file_written_but_never_committed_is_found_and_purged_once_it_settled(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DeltaStore(settings)
    path = "bronze/orphans"
    store.write(path, pl.DataFrame({"customer_id": ["c1", "c2"]}), mode="append", metadata={})
    buffer = io.BytesIO()
    pl.DataFrame({"customer_id": ["c1", "c3"]}).write_parquet(buffer)  # what a write that lost its race leaves
    with lake_fs(store, path).open_output_stream("part-orphan.parquet") as stream:
        stream.write(buffer.getvalue())

    orphans = [r for r in files_on_storage(store, path) if r.orphan_since is not None]
    assert [r.path for r in orphans] == ["part-orphan.parquet"]
    monkeypatch.setattr(physical, "ORPHAN_GRACE", dt.timedelta(seconds=1))
    held = physical.holding_files(store, path, "customer_id", frozenset({"c1"}))
    assert held == frozenset({"part-orphan.parquet"})  # the live file holding c1 is the DELETE's to remove
    assert physical.holding_files(store, path, "customer_id", frozenset({"c9"})) == frozenset()
    physical.purge(store, physical.PurgePlan({path: held}))
    assert [r.path for r in files_on_storage(store, path) if r.orphan_since is not None] == []
    assert sorted(store.read(path)["customer_id"]) == ["c1", "c2"]  # the table is untouched

"""The log scrub's pure transforms: Delta log bytes in, scrubbed bytes out (no storage)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurelake.core.erasure import Needles
from featurelake.io.delta.log_scrub import (
    PersonalPartitionError,
    last_checkpoint_with_size,
    scrub_checkpoint,
    scrub_commit,
)

VALUE = "cust-0042"
HASH = "ab" * 32
NEEDLES = Needles(value=VALUE, hashes=frozenset({HASH}))
PURGED_PATH = "part-00000-old.parquet"


def _stats(low: str, high: str) -> str:
    return json.dumps({"numRecords": 2, "minValues": {"customer_id": low}, "maxValues": {"customer_id": high}})


def _commit(*actions: dict[str, object]) -> bytes:
    return ("\n".join(json.dumps(a, separators=(",", ":")) for a in actions) + "\n").encode()


def _add(path: str, stats: str, partitions: dict[str, str] | None = None) -> dict[str, object]:
    return {"add": {"path": path, "partitionValues": partitions or {}, "size": 10, "stats": stats, "tags": None}}


DELETE_COMMIT = _commit(
    {
        "commitInfo": {
            "operation": "DELETE",
            "operationParameters": {"predicate": f"customer_id = '{VALUE}'"},
            "featurelake.erasure_request": "req-1",
            "operationMetrics": {"num_deleted_rows": 1},
        }
    },
    _add("part-00001-new.parquet", _stats("cust-0001", "cust-0009")),
    {"remove": {"path": PURGED_PATH, "dataChange": True, "size": 10, "stats": _stats("cust-0001", VALUE)}},
)


def test_a_delete_commit_loses_its_predicate_and_the_purged_files_statistics() -> None:
    scrubbed = scrub_commit(DELETE_COMMIT, frozenset({PURGED_PATH}), NEEDLES, frozenset({"req-1"}))

    assert scrubbed is not None
    assert NEEDLES.in_bytes(DELETE_COMMIT)
    assert not NEEDLES.in_bytes(scrubbed)
    info, add, remove = (json.loads(line) for line in scrubbed.decode().splitlines())
    assert info["commitInfo"]["operationParameters"]["predicate"] == "[erased: req-1]"
    assert info["commitInfo"]["operationMetrics"] == {"num_deleted_rows": 1}
    assert "stats" not in remove["remove"]
    assert remove["remove"]["path"] == PURGED_PATH
    assert add == json.loads(DELETE_COMMIT.decode().splitlines()[1]), "a file that did not hold the subject is kept"


def test_a_scrubbed_commit_is_left_alone_the_second_time() -> None:
    once = scrub_commit(DELETE_COMMIT, frozenset({PURGED_PATH}), NEEDLES, frozenset({"req-1"}))
    assert once is not None
    assert scrub_commit(once, frozenset({PURGED_PATH}), NEEDLES, frozenset({"req-1"})) is None


def test_a_commit_without_the_subject_keeps_its_exact_bytes() -> None:
    clean = _commit({"commitInfo": {"operation": "WRITE"}}, _add("a.parquet", _stats("x-1111", "x-2222")))
    assert scrub_commit(clean, frozenset({PURGED_PATH}), NEEDLES, frozenset({"req-1"})) is None


def test_another_requests_predicate_is_kept_unless_it_names_the_subject() -> None:
    other = _commit(
        {"commitInfo": {"operationParameters": {"predicate": "customer_id = 'zz-9999'"}, "k": f"key {HASH[:30]}"}}
    )
    scrubbed = scrub_commit(other, frozenset(), NEEDLES, frozenset({"req-1"}))
    assert scrubbed is not None
    info = json.loads(scrubbed)["commitInfo"]
    assert info == {"operationParameters": {"predicate": "customer_id = 'zz-9999'"}, "k": "[erased]"}


def test_statistics_that_name_the_subject_go_even_for_a_file_not_listed_as_purged() -> None:
    leaking = _commit(_add("b.parquet", _stats(VALUE, "cust-0099")))
    scrubbed = scrub_commit(leaking, frozenset(), NEEDLES, frozenset())
    assert scrubbed is not None
    assert "stats" not in json.loads(scrubbed)["add"]


def test_a_partition_value_naming_the_subject_is_refused_without_echoing_it() -> None:
    partitioned = _commit(_add(f"customer_id={VALUE}/c.parquet", _stats("1", "2"), {"customer_id": VALUE}))
    with pytest.raises(PersonalPartitionError, match="partitioned by 'customer_id'") as caught:
        scrub_commit(partitioned, frozenset(), NEEDLES, frozenset())
    assert VALUE not in str(caught.value)


def _checkpoint(paths_and_stats: list[tuple[str, str]]) -> bytes:
    add_type = pa.struct(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("partitionValues", pa.map_(pa.string(), pa.string()), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("stats", pa.string()),
            pa.field("tags", pa.map_(pa.string(), pa.string())),
        ]
    )
    adds = [{"path": p, "partitionValues": [], "size": 1, "stats": s, "tags": [("k", "v")]} for p, s in paths_and_stats]
    table = pa.table(
        {
            "add": pa.array([*adds, None], add_type),
            "txn": pa.array([None] * len(adds) + [{"appId": "app", "version": 3}]),
        }
    )
    table = table.replace_schema_metadata({b"writer": b"test"})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _decoded(data: bytes) -> str:
    return json.dumps(pq.read_table(pa.BufferReader(data)).to_pylist())


def test_a_checkpoint_keeps_its_schema_and_nulls_only_the_purged_files_statistics() -> None:
    original = _checkpoint([(PURGED_PATH, _stats("cust-0001", VALUE)), ("keep.parquet", _stats("x-1", "x-2"))])
    scrubbed = scrub_checkpoint(original, frozenset({PURGED_PATH}), NEEDLES)

    assert scrubbed is not None
    assert NEEDLES.in_text(_decoded(original))
    assert not NEEDLES.in_text(_decoded(scrubbed))
    before, after = pq.read_table(pa.BufferReader(original)), pq.read_table(pa.BufferReader(scrubbed))
    assert after.schema == before.schema
    assert after.schema.metadata == before.schema.metadata
    rows = after.to_pylist()
    assert rows[0]["add"] == {"path": PURGED_PATH, "partitionValues": [], "size": 1, "stats": None, "tags": None}
    assert rows[1] == before.to_pylist()[1]
    assert rows[2]["add"] is None
    assert rows[2]["txn"] == {"appId": "app", "version": 3}
    assert scrub_checkpoint(scrubbed, frozenset({PURGED_PATH}), NEEDLES) is None


def test_last_checkpoint_follows_the_rewritten_size() -> None:
    pointer = b'{"version":7,"size":4,"sizeInBytes":1000,"numOfAddFiles":2}'
    updated = last_checkpoint_with_size(pointer, 7, 900)
    assert updated is not None
    assert json.loads(updated) == {
        "version": 7,
        "size": 4,
        "sizeInBytes": 900,
        "numOfAddFiles": 2,
    }
    assert last_checkpoint_with_size(pointer, 6, 900) is None
    assert last_checkpoint_with_size(pointer, 7, 1000) is None

"""The online store on DynamoDB: the only module that talks to it (moto serves it on the local stack).

One table per feature set version, ``<prefix>-<name>-v<version>``, keyed by the entity
(:mod:`featurelake.core.online` holds the item format). Writes are conditional, so a newer
Delta version always wins and a repeated or late write of an older one changes nothing:

    attribute_not_exists(entity) OR delta_version < :v OR (delta_version = :v AND event_time_us <= :t)

``BatchWriteItem`` takes no condition, so writes go in ``TransactWriteItems`` calls of up to 99
conditional puts plus a check of the table's watermark, the last Delta version a materialization
completed (an item of its own, :data:`WATERMARK`): once a newer version has completed, a run of
an older one stops at its next call instead of writing back entities the newer version removed.
A transaction is all or nothing: when some of its conditions fail, DynamoDB cancels it and says
which; items whose own condition failed are skipped (the store holds something newer) and the
rest are sent again. Throttling is retried by botocore's adaptive retries; unprocessed keys of
``BatchGetItem`` are asked again with a capped backoff, so nothing is lost or silently dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from featurelake.core.featureset import FeatureSet
from featurelake.core.online import DELTA_VERSION, ENTITY, EVENT_TIME_US, Item
from featurelake.io.aws.s3 import aws_client
from featurelake.settings import Settings

_WRITE_BATCH, _READ_BATCH = 99, 100
#: The item holding the last Delta version a materialization completed (entity ids are JSON arrays: no clash).
WATERMARK = "#materialized"
_NEWER_WINS = "attribute_not_exists(#e) OR #v < :v OR (#v = :v AND #t <= :t)"
_NAMES = {"#e": ENTITY, "#v": DELTA_VERSION, "#t": EVENT_TIME_US}
_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


class _SupersededError(RuntimeError):
    """A newer Delta version finished materializing while this (older) one was writing: it must stop."""


@dataclass(frozen=True)
class WriteCounts:
    """Items a write stored and items it skipped, by the rules of the module docstring.

    An item is skipped when the store held the entity at a newer version, or when (``superseded``)
    a newer version completed while this one was writing: the rest was left to that one.
    """

    written: int
    skipped: int
    superseded: bool = False


class OnlineStore:
    """DynamoDB tables of the online store, on the settings' endpoint and region."""

    def __init__(self, settings: Settings) -> None:
        self._client = aws_client(settings, "dynamodb")
        self._prefix = settings.online_table_prefix
        self._known: set[str] = set()

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("an OnlineStore holds a boto3 client; pass the settings to a worker instead")

    def table_name(self, spec: FeatureSet) -> str:
        """``<prefix>-<name>-v<version>``, with characters DynamoDB refuses replaced by ``-``."""
        return re.sub(r"[^a-zA-Z0-9_.-]", "-", f"{self._prefix}-{spec.name}-v{spec.version}")

    def exists(self, spec: FeatureSet) -> bool:
        """Whether the feature set version has an online table (it was materialized at least once)."""
        name = self.table_name(spec)
        if name in self._known:
            return True
        try:
            self._client.describe_table(TableName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        self._known.add(name)
        return True

    def ensure_table(self, spec: FeatureSet) -> str:
        """The table's name, created if missing: on-demand billing, encrypted, point-in-time recovery on."""
        name = self.table_name(spec)
        if self.exists(spec):
            return name
        try:
            self._client.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": ENTITY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": ENTITY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True, "SSEType": "KMS"},
                Tags=[{"Key": "featurelake:feature-set", "Value": spec.ref}],
            )
        except ClientError as error:  # a concurrent materialization created it first
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        self._client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        self._client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        self._known.add(name)
        return name

    def watermark(self, table: str) -> int | None:
        """The last Delta version a materialization of ``table`` completed, or None before the first."""
        answer = self._client.get_item(TableName=table, Key={ENTITY: {"S": WATERMARK}}, ConsistentRead=True)
        item = answer.get("Item")
        return None if item is None else int(item[DELTA_VERSION]["N"])

    def complete(self, table: str, delta_version: int) -> bool:
        """Record that ``delta_version`` is fully materialized; False when a newer one already was."""
        item = {ENTITY: {"S": WATERMARK}, DELTA_VERSION: {"N": str(delta_version)}}
        try:
            self._client.put_item(
                TableName=table,
                Item=item,
                ConditionExpression="attribute_not_exists(#e) OR #v <= :v",
                ExpressionAttributeNames={"#e": ENTITY, "#v": DELTA_VERSION},
                ExpressionAttributeValues={":v": item[DELTA_VERSION]},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def write(self, table: str, items: Sequence[Item], delta_version: int) -> WriteCounts:
        """Store ``items`` of ``delta_version`` where the store holds nothing newer; idempotent.

        Stops when a newer version completed meanwhile: the rest counts as skipped.
        """
        written = skipped = 0
        for start in range(0, len(items), _WRITE_BATCH):
            try:
                done, passed = self._write_batch(table, list(items[start : start + _WRITE_BATCH]), delta_version)
            except _SupersededError:
                return WriteCounts(written, len(items) - written, superseded=True)
            written, skipped = written + done, skipped + passed
        return WriteCounts(written, skipped)

    def _write_batch(self, table: str, batch: list[Item], delta_version: int) -> tuple[int, int]:
        """One transaction of conditional puts, sent again without the items whose condition failed."""
        skipped, attempt = 0, 0
        while batch:
            actions = [_watermark_check(table, delta_version), *(_conditional_put(table, item) for item in batch)]
            try:
                self._client.transact_write_items(TransactItems=actions)
                return len(batch), skipped
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise _SupersededError(f"{table}: a version newer than {delta_version} was materialized") from None
                failed = {i - 1 for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
                if len(reasons) != len(actions) or not failed:  # a conflict with another transaction: again
                    time.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
                    attempt += 1
                    continue
                batch = [item for i, item in enumerate(batch) if i not in failed]
                skipped += len(failed)
        return 0, skipped

    def get(self, table: str, entities: Iterable[str]) -> dict[str, Item]:
        """The items of ``entities`` that exist (tombstones included), by entity; one call per 100 keys."""
        wanted = list(dict.fromkeys(entities))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), _READ_BATCH):
            keys = [{ENTITY: {"S": e}} for e in wanted[start : start + _READ_BATCH]]
            for item in self._batch_get(table, keys):
                found[item[ENTITY]["S"]] = item
        return found

    def _batch_get(self, table: str, keys: list[dict[str, Any]]) -> list[Item]:
        """``BatchGetItem`` with its unprocessed keys asked again (capped backoff); strongly consistent."""
        items: list[Item] = []
        for pause in (0.0, *_BACKOFF):
            time.sleep(pause)
            answer = self._client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
            items += answer.get("Responses", {}).get(table, [])
            keys = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not keys:
                return items
        raise RuntimeError(f"DynamoDB left {len(keys)} key(s) of {table} unprocessed after retries; try again")

    def entities(self, table: str) -> set[str]:
        """Every entity the table holds an item for (a full materialization tombstones the ones it lacks)."""
        found: set[str] = set()
        for page in self._client.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="#e", ExpressionAttributeNames={"#e": ENTITY}, ConsistentRead=True
        ):
            found.update(item[ENTITY]["S"] for item in page.get("Items", []))
        return found - {WATERMARK}


def _watermark_check(table: str, delta_version: int) -> dict[str, Any]:
    """Fails the transaction when a version newer than ``delta_version`` has completed."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": {ENTITY: {"S": WATERMARK}},
            "ConditionExpression": "attribute_not_exists(#e) OR #v <= :v",
            "ExpressionAttributeNames": {"#e": ENTITY, "#v": DELTA_VERSION},
            "ExpressionAttributeValues": {":v": {"N": str(delta_version)}},
        }
    }


def _conditional_put(table: str, item: Item) -> dict[str, Any]:
    """A put that succeeds only where the store holds an older version, or the same one no later in time."""
    values = {":v": item[DELTA_VERSION], ":t": item[EVENT_TIME_US]}
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            "ConditionExpression": _NEWER_WINS,
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": values,
        }
    }

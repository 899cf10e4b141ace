"""One writer per online table at a time: a lease kept as an item of the table itself.

A materialization reads what the table holds and writes only what is newer; two of them
interleaving could let the older one overwrite the newer between its read and its write, so
they take turns. The lease is an item (``#lease``) put with a condition: absent, expired, or
already this holder's. The holder renews it as it writes; a holder that dies lets it expire, and
the next run waits for that rather than failing.
"""

from __future__ import annotations

import time
import uuid
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError

from featurelake.core.online import ENTITY

LEASE = "#lease"
_WAIT_STEP = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class LeaseLostError(RuntimeError):
    """The lease expired and another materialization took it: this one must stop writing."""


class Lease:
    """The right to write one online table; a context manager that waits for the current holder."""

    def __init__(self, client: Any, table: str, seconds: float, wait: float = 900.0) -> None:
        self._client, self._table, self._seconds, self._wait = client, table, seconds, wait
        self._owner = uuid.uuid4().hex

    def __enter__(self) -> Lease:
        deadline, step = time.monotonic() + self._wait, 0
        while not self._put(renewing=False):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"online table {self._table} stayed leased by another materialization for {self._wait:.0f} s; "
                    "it is still running, or died less than the lease ago: run again later"
                )
            time.sleep(_WAIT_STEP[min(step, len(_WAIT_STEP) - 1)])
            step += 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={ENTITY: {"S": LEASE}},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self._owner}},
            )
        except ClientError as failure:  # expired and taken over: nothing of ours to release
            if failure.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def renew(self) -> None:
        """Extend the lease before the next write.

        Raises:
            LeaseLostError: when it expired and another materialization holds it now.
        """
        if not self._put(renewing=True):
            raise LeaseLostError(f"the lease on online table {self._table} expired and was taken over")

    def _put(self, *, renewing: bool) -> bool:
        """Put the lease item if it is free, expired or ours (only ours when renewing); False when held."""
        now = time.time()
        condition = "#o = :me" if renewing else "attribute_not_exists(#e) OR #x < :now OR #o = :me"
        names = {"#o": "owner"} if renewing else {"#e": ENTITY, "#x": "expires", "#o": "owner"}
        values = {":me": {"S": self._owner}} if renewing else {":me": {"S": self._owner}, ":now": {"N": repr(now)}}
        try:
            self._client.put_item(
                TableName=self._table,
                Item={ENTITY: {"S": LEASE}, "owner": {"S": self._owner}, "expires": {"N": repr(now + self._seconds)}},
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as failure:
            if failure.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

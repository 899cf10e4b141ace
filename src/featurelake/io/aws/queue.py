"""The raw bucket's ObjectCreated notifications, delivered to an SQS queue and read back from it.

On AWS the raw bucket's events reach Prefect through EventBridge and ``infra/forwarder``. The
local stack has no EventBridge, but moto delivers S3 notifications to an SQS queue on the same
endpoint, so ``featurelake.local.events`` reads them here. Receiving long-polls: an idle queue
costs one request per ``wait_seconds``, not a flow run per poll.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurelake.io.aws.s3 import aws_client, s3_client
from featurelake.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import QueueConfigurationTypeDef

#: The id of the notification this module puts on the raw bucket (S3 shows it in every record).
NOTIFICATION_ID = "featurelake-raw-object-created"


@dataclass(frozen=True)
class CreatedObject:
    """One object an ObjectCreated record names (key decoded, ETag unquoted)."""

    bucket: str
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class QueueMessage:
    """One received message: what it announces and the handle that deletes it."""

    message_id: str
    receipt_handle: str
    #: Empty for S3's test event and for records that are not ObjectCreated.
    objects: list[CreatedObject]


def created_objects(body: str) -> list[CreatedObject]:
    """The objects an S3 notification body announces as created.

    S3 URL-encodes keys in notifications (a space arrives as ``+``), as it does for EventBridge;
    the test event S3 sends when a notification is configured has no ``Records`` and yields none.
    """
    records = json.loads(body).get("Records", [])
    return [_created(r) for r in records if str(r.get("eventName", "")).startswith("ObjectCreated")]


def _created(record: dict[str, Any]) -> CreatedObject:
    s3 = record["s3"]
    key = urllib.parse.unquote_plus(s3["object"]["key"])
    return CreatedObject(s3["bucket"]["name"], key, str(s3["object"]["eTag"]).strip('"'), int(s3["object"]["size"]))


class RawEventQueue:
    """The SQS queue the raw bucket notifies of every created object."""

    def __init__(self, settings: Settings, name: str) -> None:
        """Connect to the queue ``name`` on the configured endpoint (it need not exist yet)."""
        self.settings, self.name = settings, name
        self._sqs: Any = aws_client(settings, "sqs")
        self.url = ""

    def subscribe_raw_bucket(self) -> str:
        """Create the queue if missing and point the raw bucket's ObjectCreated notifications at it.

        This replaces the bucket's notification configuration: meant for the local stack, whose
        raw bucket has no other subscriber. Returns the queue URL.
        """
        self.url = self._sqs.create_queue(QueueName=self.name)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        target: QueueConfigurationTypeDef = {
            "Id": NOTIFICATION_ID,
            "QueueArn": attributes["Attributes"]["QueueArn"],
            "Events": ["s3:ObjectCreated:*"],
        }
        s3_client(self.settings).put_bucket_notification_configuration(
            Bucket=self.settings.raw_bucket, NotificationConfiguration={"QueueConfigurations": [target]}
        )
        return self.url

    def receive(self, wait_seconds: int = 20, visibility_seconds: int = 60) -> list[QueueMessage]:
        """Up to ten messages, waiting up to ``wait_seconds`` for the first (SQS long polling).

        A received message stays invisible for ``visibility_seconds``; unless deleted by then it
        is delivered again, so a crash between receiving and announcing loses nothing.
        """
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
        )
        return [
            QueueMessage(m["MessageId"], m["ReceiptHandle"], created_objects(m["Body"]))
            for m in response.get("Messages", [])
        ]

    def delete(self, messages: list[QueueMessage]) -> None:
        """Delete handled messages (at most ten, as :meth:`receive` returns)."""
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)]
            self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def backlog(self) -> int:
        """Messages waiting or in flight: zero once every notification was handled."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[n]) for n in names)

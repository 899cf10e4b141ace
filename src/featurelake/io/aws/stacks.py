"""CloudFormation stack outputs: where a deployment finds the task roles the infra stack created.

No endpoint is configured here: boto3 reads ``AWS_ENDPOINT_URL_CLOUDFORMATION`` (or
``AWS_ENDPOINT_URL``) itself, so an emulator is chosen per service and a custom S3 endpoint is
never mistaken for CloudFormation's.
"""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def stack_outputs(stack_name: str, region: str) -> dict[str, str]:
    """Output key → value of one stack.

    Raises:
        ValueError: naming the stack and region when it cannot be read (missing, no access).
    """
    client = boto3.client("cloudformation", region_name=region)
    try:
        (stack,) = client.describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise ValueError(f"cannot read CloudFormation stack {stack_name!r} in {region}: {error}") from error
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

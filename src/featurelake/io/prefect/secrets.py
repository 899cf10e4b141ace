"""The PII hashing key, read from where operators keep secrets: never from code, config or logs.

Two homes are supported: a Prefect Secret block (self-hosted server or Cloud) and an AWS Secrets
Manager secret read through prefect-aws with the standard credential chain (a task role on AWS).
Settings hold only the block or secret name.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

from pydantic import SecretStr

from featurelake.core.pii import PiiKeyError, check_key
from featurelake.settings import Settings

_KEY_HEX_CHARS = 64


def read_pii_key(settings: Settings) -> bytes:
    """The HMAC key named by the settings.

    Raises:
        PiiKeyError: naming the block or secret (never its value) when it is missing or too short.
    """
    where = _describe(settings)
    try:
        value = _read_prefect_secret(settings) if settings.pii_key_source == "prefect-secret" else _read_aws(settings)
    except PiiKeyError:
        raise
    except Exception as error:  # the stores raise their own types; the caller needs to know which store and name
        raise PiiKeyError(f"cannot read the PII key from {where}: {type(error).__name__}: {error}") from error
    return check_key(value.encode("utf-8") if isinstance(value, str) else value, where)


def create_pii_key_block(name: str, *, overwrite: bool = False) -> bool:
    """Save a fresh random key (256 bits, as hex) in a Prefect Secret block; False if one exists.

    Rotating the key changes every hash from then on: hashed columns no longer join across the
    rotation, so an existing key is kept unless ``overwrite`` says otherwise.
    """
    from prefect.blocks.system import Secret

    if not overwrite and _prefect_secret_exists(name):
        return False
    Secret(value=SecretStr(secrets.token_hex(_KEY_HEX_CHARS // 2))).save(name, overwrite=True)
    return True


def _describe(settings: Settings) -> str:
    if settings.pii_key_source == "prefect-secret":
        return f"Prefect Secret block {settings.pii_key_name!r}"
    return f"AWS Secrets Manager secret {settings.pii_key_name!r}"


def _prefect_secret_exists(name: str) -> bool:
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        Secret.load(name)
    except (ObjectNotFound, ValueError):
        return False
    return True


def _read_prefect_secret(settings: Settings) -> str | bytes:
    from prefect.blocks.system import Secret

    block = cast("Secret[Any]", Secret.load(settings.pii_key_name))  # sync call: a block, not a coroutine
    value = block.get()
    if not isinstance(value, (str, bytes)):
        raise PiiKeyError(f"{_describe(settings)} holds a {type(value).__name__}, not a string")
    return value


def _read_aws(settings: Settings) -> str | bytes:
    from prefect_aws import AwsClientParameters, AwsCredentials
    from prefect_aws.secrets_manager import AwsSecret

    credentials = AwsCredentials(
        region_name=settings.aws_region,
        aws_client_parameters=AwsClientParameters(endpoint_url=settings.s3_endpoint_url),
    )
    secret = AwsSecret(aws_credentials=credentials, secret_name=settings.pii_key_name)
    return cast("str | bytes", secret.read_secret())  # sync call: the value, not a coroutine

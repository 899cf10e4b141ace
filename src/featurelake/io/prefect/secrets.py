"""The PII hashing key, read from where operators keep secrets: never from code, config or logs.

Two homes are supported: a Prefect Secret block (self-hosted server or Cloud) and an AWS Secrets
Manager secret read through prefect-aws with the standard credential chain (a task role on AWS).
Settings hold only the block or secret name.

A rotated key is not thrown away: hashed columns written under it, and the erasure suppression
list, can only be matched with it. It is kept as ``<pii_key_name>-retired-<key_id>`` (a Prefect
Secret block written by :func:`create_pii_key_block`; on AWS Secrets Manager, operators who
rotate the key store the old value as a secret of that name) and read by id with
:func:`read_retired_keys`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from pydantic import SecretStr

from featurelake.core.pii import PiiKeyError, check_key, key_id
from featurelake.settings import Settings

_KEY_HEX_CHARS = 64


def read_pii_key(settings: Settings) -> bytes:
    """The HMAC key named by the settings.

    Raises:
        PiiKeyError: naming the block or secret (never its value) when it is missing or too short.
    """
    return _read_key(settings, settings.pii_key_name)


def retired_key_name(name: str, retired_id: str) -> str:
    """Where a rotated key is kept: ``<name>-retired-<key_id>`` (a Prefect block or an AWS secret)."""
    return f"{name}-retired-{retired_id}"


def read_retired_keys(settings: Settings, key_ids: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
    """The retired keys with these ids, by id, and the ids none could be read for.

    A key is only returned under an id it really has (:func:`featurelake.core.pii.key_id`): a
    secret saved under the wrong name would otherwise make every match silently fail.
    """
    found: dict[str, bytes] = {}
    missing: list[str] = []
    for wanted in sorted(set(key_ids)):
        try:
            key = _read_key(settings, retired_key_name(settings.pii_key_name, wanted))
        except PiiKeyError:
            missing.append(wanted)
            continue
        if key_id(key) == wanted:
            found[wanted] = key
        else:
            missing.append(wanted)
    return found, missing


@dataclass(frozen=True)
class PiiKeys:
    """The current PII key and the retired ones that could be read, by key id; the ids that could not."""

    keys: dict[str, bytes]
    current: str
    missing: tuple[str, ...]

    @property
    def current_key(self) -> bytes:
        """The key hashes are made with now."""
        return self.keys[self.current]


def read_known_keys(settings: Settings, key_ids: Iterable[str]) -> PiiKeys:
    """The current key, and the retired ones among ``key_ids`` (the ids none could be read for are ``missing``).

    Raises:
        PiiKeyError: the current key cannot be read (see :func:`read_pii_key`).
    """
    current = read_pii_key(settings)
    retired, missing = read_retired_keys(settings, set(key_ids) - {key_id(current)})
    return PiiKeys({key_id(current): current, **retired}, key_id(current), tuple(sorted(missing)))


def create_pii_key_block(name: str, *, overwrite: bool = False) -> bool:
    """Save a fresh random key (256 bits, as hex) in a Prefect Secret block; False if one exists.

    Rotating the key changes every hash from then on: hashed columns no longer join across the
    rotation, so an existing key is kept unless ``overwrite`` says otherwise. A rotated key is
    first saved as ``<name>-retired-<key_id>``, so a crash between the two saves loses no key.
    """
    from prefect.blocks.system import Secret

    exists = _prefect_secret_exists(name)
    if exists and not overwrite:
        return False
    if exists:
        old = cast("Secret[Any]", Secret.load(name)).get()
        old_key = old.encode("utf-8") if isinstance(old, str) else old
        Secret(value=SecretStr(old_key.decode("utf-8"))).save(retired_key_name(name, key_id(old_key)), overwrite=True)
    Secret(value=SecretStr(secrets.token_hex(_KEY_HEX_CHARS // 2))).save(name, overwrite=True)
    return True


def _read_key(settings: Settings, name: str) -> bytes:
    where = _describe(settings, name)
    try:
        value = (
            _read_prefect_secret(name, where)
            if settings.pii_key_source == "prefect-secret"
            else _read_aws(settings, name)
        )
    except PiiKeyError:
        raise
    except Exception as error:  # the stores raise their own types; the caller needs to know which store and name
        raise PiiKeyError(f"cannot read the PII key from {where}: {type(error).__name__}: {error}") from error
    return check_key(value.encode("utf-8") if isinstance(value, str) else value, where)


def _describe(settings: Settings, name: str) -> str:
    if settings.pii_key_source == "prefect-secret":
        return f"Prefect Secret block {name!r}"
    return f"AWS Secrets Manager secret {name!r}"


def _prefect_secret_exists(name: str) -> bool:
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        Secret.load(name)
    except (ObjectNotFound, ValueError):
        return False
    return True


def _read_prefect_secret(name: str, where: str) -> str | bytes:
    from prefect.blocks.system import Secret

    block = cast("Secret[Any]", Secret.load(name))  # sync call: a block, not a coroutine
    value = block.get()
    if not isinstance(value, (str, bytes)):
        raise PiiKeyError(f"{where} holds a {type(value).__name__}, not a string")
    return value


def _read_aws(settings: Settings, name: str) -> str | bytes:
    from prefect_aws import AwsClientParameters, AwsCredentials
    from prefect_aws.secrets_manager import AwsSecret

    credentials = AwsCredentials(
        region_name=settings.aws_region,
        aws_client_parameters=AwsClientParameters(endpoint_url=settings.s3_endpoint_url),
    )
    secret = AwsSecret(aws_credentials=credentials, secret_name=name)
    return cast("str | bytes", secret.read_secret())  # sync call: the value, not a coroutine

"""One error path for every command: a user's mistake is one line on stderr, a bug keeps its traceback.

The app's command group (:class:`OneLineErrors`) runs every command, so a command registered
later is covered without doing anything. How the two are told apart (:func:`explain`):

- **usage errors** of the command line (a bad option value, a missing argument, a file option
  that names no file): one line naming the option, and ``--help`` (exit 2);
- **refusals**: a ``ValueError`` (``SpineError``, ``PiiKeyError``…) or a ``KeyError``/``LookupError``
  carrying a sentence, raised by featurelake's own code: the library raises these on purpose
  for bad references, versions, spines and options, with a message saying what to do;
- **the environment**: any ``OSError`` (a missing or unreadable file, a refused connection, a
  timeout), and the error types of our stages and of the clients we call that mean a service,
  a setting or a gate said no (matched by name, so nothing is imported to check).

Anything else (``TypeError``, ``AttributeError``, ``AssertionError``, ``IndexError``, a bare
``KeyError('x')`` from a dict lookup, a ``ValueError`` raised inside a library) is a bug and keeps
Python's traceback. ``FEATURELAKE_DEBUG=1`` shows the traceback of every error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

T = TypeVar("T")
DEBUG_VARIABLE = "FEATURELAKE_DEBUG"
#: Error types (module.class, matched along the MRO) that mean "a service, a setting or a gate
#: said no", with what to do about it ("" when the message already says).
KNOWN = {
    "featurelake.cli.reach.ServiceUnreachableError": "",
    "featurelake.io.delta.registry.RegistryMismatchError": "",
    "featurelake.validate.gate.ValidationFailedError": "",
    "featurelake.io.aws.s3.PermanentS3Error": "",
    "featurelake.io.aws.s3.ObjectChangedError": "",
    "featurelake.local.processes.StackError": "",
    "featurelake.local.chain.StageError": "",
    "botocore.exceptions.EndpointConnectionError": "check FEATURELAKE_S3_ENDPOINT_URL, or start the local stack",
    "botocore.exceptions.NoCredentialsError": "set AWS credentials (environment, profile or role)",
    "botocore.exceptions.ClientError": "check the bucket, the credentials and FEATURELAKE_S3_ENDPOINT_URL",
    "botocore.exceptions.BotoCoreError": "check the AWS settings and FEATURELAKE_S3_ENDPOINT_URL",
    "mlflow.exceptions.MlflowException": "check FEATURELAKE_MLFLOW_TRACKING_URI and that the server answers",
    "httpx.TransportError": "check PREFECT_API_URL and that the Prefect server answers",
    "prefect.exceptions.ObjectNotFound": "check the name against the Prefect UI",
    "pydantic_core._pydantic_core.ValidationError": "",
}
_OWN_CODE = ("featurelake.", "features.")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class OneLineErrors(TyperGroup):
    """The ``featurelake`` group: runs a command and turns the mistakes of its user into one line."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """The group's own options (``featurelake --bogus``): one line too."""
        return _one_line(lambda: super(OneLineErrors, self).parse_args(ctx, args))

    def invoke(self, ctx: Any) -> Any:
        """Run the command: parsing its options and its body both go through :func:`explain`."""
        return _one_line(lambda: super(OneLineErrors, self).invoke(ctx))


def _one_line(action: Callable[[], T]) -> T:
    try:
        return action()
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        message, code = _message(error)
        if message is None:
            raise
        fail(message, code)


def _message(error: Exception) -> tuple[str | None, int]:
    """The line to print and the exit code; no line for help screens and bugs."""
    if isinstance(error, typer.TyperException):
        return (None, 0) if type(error).__name__ == "NoArgsIsHelpError" else (_usage(error), error.exit_code)
    return explain(error), 1


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and end the command with ``code``."""
    from featurelake.cli.output import say

    say(f"error: {message}", "red", stderr=True)
    raise typer.Exit(code)


def explain(error: BaseException) -> str | None:
    """The one line a user's mistake deserves, or None when ``error`` is a bug (see the module docstring)."""
    if os.environ.get(DEBUG_VARIABLE, "").lower() in ("1", "true", "yes"):
        return None
    if type(error).__name__ == "ValidationError" and getattr(error, "title", "") == "Settings":
        return _invalid_settings(error)
    hint = _known_hint(error)
    if hint is not None:
        return _with_hint(_text(error), hint)
    if isinstance(error, OSError):
        return _os_error(error)
    if isinstance(error, ValueError | LookupError) and _raised_by_us(error) and _is_sentence(error):
        return _text(error)
    return None


def _usage(error: typer.TyperException) -> str:
    """A command-line mistake, with where to read how the command is used."""
    ctx = getattr(error, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return _one(error.format_message()).rstrip(".") + where


def _known_hint(error: BaseException) -> str | None:
    names = {f"{kind.__module__}.{kind.__qualname__}" for kind in type(error).__mro__}
    return next((hint for name, hint in KNOWN.items() if name in names), None)


def _invalid_settings(error: Any) -> str:
    """The settings pydantic refused, named as the environment variables to fix."""
    problems = [
        f"FEATURELAKE_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}" for e in error.errors()
    ]
    return f"invalid setting(s): {'; '.join(problems)}; fix them in the environment"


def _os_error(error: OSError) -> str:
    """A file or connection problem: the path or endpoint, the reason, and what to check."""
    if isinstance(error, ConnectionError | TimeoutError) and not getattr(error, "filename", None):
        return _with_hint(_text(error), "is the service up, and do its settings name it?")
    if error.filename is not None and error.strerror:
        advice = {
            FileNotFoundError: "check the path",
            PermissionError: "check its permissions",
            IsADirectoryError: "name a file, not a directory",
            NotADirectoryError: "check the path",
        }.get(type(error), "")
        return _with_hint(f"{error.filename}: {error.strerror}", advice)
    return _text(error)


def _raised_by_us(error: BaseException) -> bool:
    """Whether the innermost frame of the traceback is featurelake's or the features package's code."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module.startswith(_OWN_CODE) or module in ("featurelake", "features")


def _is_sentence(error: BaseException) -> bool:
    """A message meant for a person: a bare ``KeyError('amount')`` from a lookup is a bug, not a refusal."""
    return " " in _text(error)


def _text(error: BaseException) -> str:
    """The error's message on one line (``KeyError`` quotes its argument: use the argument itself)."""
    raw = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return _one(str(raw)) or type(error).__name__


def _one(text: str) -> str:
    return " ".join(_ANSI.sub("", text).split())


def _with_hint(text: str, hint: str) -> str:
    return f"{text.rstrip('.; ')}; {hint}" if hint else text

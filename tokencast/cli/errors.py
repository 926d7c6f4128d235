"""What the CLI says when something goes wrong: one line naming the problem, one hint.

Every command runs inside :func:`reported`; an exception it recognises becomes a
:class:`CliError` (message, hint, exit code) printed as::

    tokencast stream: --max-tokens must be between 1 and 4096
      hint: leave --max-tokens out for the stack's default

Anything unrecognised is still one line (its type and message) with a pointer to
``--debug``, which shows the traceback instead.

Exit codes (one meaning each, README "Exit codes"):
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

#: the request was refused or failed: not found, conflict, forbidden, session FAILED, nothing to cancel
EXIT_FAILED = 1
#: the command was wrong: bad arguments or input, nothing to talk to, a port in use
EXIT_USAGE = 2
#: the API could not be reached, or the connection was lost for good
EXIT_UNREACHABLE = 3
#: stopped by Ctrl-C (128 + SIGINT), as shells expect
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    0: "done",
    EXIT_FAILED: "refused or failed (not found, conflict, not yours, FAILED, nothing to cancel)",
    EXIT_USAGE: "a mistake in the command (bad option or input, nothing to talk to, port in use)",
    EXIT_UNREACHABLE: "the API could not be reached (is `tokencast up` running?)",
    EXIT_INTERRUPTED: "stopped by Ctrl-C",
}
__doc__ += "\n".join(f"``{code}`` {meaning}" for code, meaning in EXIT_CODES.items())


@dataclass
class CliError(Exception):
    """A failure explained for a person: ``message`` (one line), ``hint`` (what to do)."""

    message: str
    hint: str | None = None
    code: int = EXIT_FAILED

    def __str__(self) -> str:
        return self.message


#: startStream's input fields → the ``tokencast stream`` option that sets them, and a hint.
_STREAM_FIELDS: dict[str, tuple[str, str]] = {
    "prompt": ("the prompt", 'give the question as one argument: tokencast stream "Why is the sky blue?"'),
    "input.prompt": ("the prompt", 'give the question as one argument: tokencast stream "Why is the sky blue?"'),
    "input.maxTokens": ("--max-tokens", "leave --max-tokens out for the stack's default"),
    "input.temperature": ("--temperature", "0 is the most predictable, 1 the most varied"),
    "input.sessionId": (
        "--session-id",
        "leave --session-id out for a new session, or pass a UUID (uuidgen prints one)",
    ),
    "input.modelId": ("--model-id", "leave --model-id out for the stack's default model"),
    "input.system": ("--system", "shorten the system prompt"),
    "input.messages": ("the conversation", "shorten the conversation"),
}
_FIELD_RULE = re.compile(r"^(?P<field>[A-Za-z_][\w.\[\]]*): (?P<rule>.+)$")


def _options(message: str) -> tuple[list[str], list[str]]:
    """``<field>: <rule>`` problems with each field named as the option that sets it, and hints."""
    parts, hints = [], []
    for problem in message.split("; "):
        match = _FIELD_RULE.match(problem)
        if match and match["field"] in _STREAM_FIELDS:
            option, hint = _STREAM_FIELDS[match["field"]]
            parts.append(f"{option} {match['rule']}")
            hints.append(hint)
        else:
            parts.append(problem)
    return parts, hints


def _with_options(message: str) -> str:
    return "; ".join(_options(message)[0])


def _invalid_input(message: str) -> CliError:
    """``input.maxTokens: must be between 1 and 4096`` → ``--max-tokens must be ...`` + its hint."""
    parts, hints = _options(message)
    return CliError("; ".join(parts), hints[0] if hints else "see the command's --help", EXIT_USAGE)


def explain(error: BaseException, *, url: str | None = None, local: bool = True) -> CliError | None:
    """The :class:`CliError` for an exception a user can cause, or None for a real bug."""
    from tokencast.client import errors as client

    if isinstance(error, CliError):
        return error
    if isinstance(error, client.ConnectionLost):
        where = f" at {url}" if url else ""
        hint = (
            "is `tokencast up` running? (or point elsewhere with --url / --stack)"
            if local
            else "check your network and the --url / --stack you gave"
        )
        return CliError(f"cannot reach the tokencast API{where}", hint, EXIT_UNREACHABLE)
    if isinstance(error, client.SessionNotFound):
        return CliError(
            f"no session {error.session_id} (or it is not yours to see)",
            "check the id: `tokencast stream` prints it as [session …]",
        )
    if isinstance(error, client.Conflict):
        return CliError(
            _with_options(error.message),
            "repeat the exact same request to rejoin that session, or leave --session-id out for a new one",
            EXIT_FAILED,
        )
    if isinstance(error, client.Forbidden):
        return CliError(error.message, "only the session's owner may do this: use the same --user / --token")
    if isinstance(error, client.AuthError):
        return CliError(
            f"the API refused the credentials ({error.error_type or 'Unauthorized'})",
            "check --token / --api-key / --iam; locally `tokencast token --user NAME` mints a token, "
            "or leave them out to use the stack's API key",
            EXIT_USAGE,
        )
    if isinstance(error, client.InvalidRequest):
        return _invalid_input(error.message)
    if isinstance(error, client.RequestError):
        return CliError(f"the API refused the request: {error.message}", None, EXIT_FAILED)
    return _explain_aws(error)


def _explain_aws(error: BaseException) -> CliError | None:
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(error, NoRegionError):
        return CliError("no AWS region to look the stack up in", "pass --region REGION or set AWS_REGION", EXIT_USAGE)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return CliError(
            "no AWS credentials found", "set AWS_PROFILE, or run `aws configure` / `aws sso login`", EXIT_USAGE
        )
    if isinstance(error, ProfileNotFound):
        return CliError(str(error), "check AWS_PROFILE against `aws configure list-profiles`", EXIT_USAGE)
    if isinstance(error, EndpointConnectionError):
        return CliError(
            f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}", "check your network", EXIT_UNREACHABLE
        )
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        message = str(info.get("Message") or info.get("Code") or error)
        if "does not exist" in message:
            return CliError(message, "check the stack's name and --region", EXIT_USAGE)
        return CliError(f"AWS refused: {message}", None, EXIT_FAILED)
    return None


@dataclass
class Report:
    """What :func:`reported` needs to know about a command while it runs."""

    #: the exit code once the block is over (0 unless an error was reported)
    code: int = 0
    #: the API the command talks to, once known (named when it cannot be reached)
    url: str | None = None
    #: whether that is the local stack (then the hint is "is `tokencast up` running?")
    local: bool = True


@contextmanager
def reported(command: str, *, debug: bool, err: TextIO | None = None) -> Iterator[Report]:
    """Run a command body; turn what :func:`explain` knows into one line and an exit code.

    With ``debug`` the original exception propagates (and Python prints its traceback).
    """
    report = Report()
    try:
        yield report
    except Exception as error:
        if debug:
            raise
        explained = explain(error, url=report.url, local=report.local)
        if explained is None:
            first_line = f"{type(error).__name__}: {error}".splitlines()[0]
            explained = CliError(
                f"unexpected error: {first_line}",
                "run again with --debug for the traceback, and report it if it persists",
                EXIT_FAILED,
            )
        print_error(command, explained, err or sys.stderr)
        report.code = explained.code


def print_error(command: str, error: CliError, err: TextIO) -> None:
    err.write(f"tokencast {command}: {error.message}\n")
    if error.hint:
        err.write(f"  hint: {error.hint}\n")
    err.flush()

"""The CLI's way to the local stack's ``/_local/*`` admin endpoints.

:class:`tokencast.local.admin_client.AdminClient` does the calls (with the stack's API key);
this turns its failures into the one-line :class:`CliError` a terminal user sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tokencast.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError
from tokencast.cli.target import Target
from tokencast.local.admin_client import AdminClient, AdminError, StackUnreachable

_TIMEOUT_S = 10.0


@contextmanager
def local_admin(target: Target) -> Iterator[AdminClient]:
    """An admin client for the running local stack; its failures become :class:`CliError`.

    Refused when the target is not a local stack. A 404 means the stack serves another model
    (``--model bedrock`` or ``openai``), which has no fault rules.
    """
    if not target.local:
        raise CliError("this command works on the local stack only", "start one with `tokencast up`", EXIT_USAGE)
    client = AdminClient.for_stack(target.graphql_url, target.api_key or "", timeout_s=_TIMEOUT_S)
    try:
        yield client
    except StackUnreachable:
        raise CliError(
            f"cannot reach the local stack at {client.base_url}", "is `tokencast up` running?", EXIT_UNREACHABLE
        ) from None
    except AdminError as error:
        if error.status == 404:
            raise CliError(
                f"the stack at {client.base_url} has no fault rules",
                "fault rules exist only for the built-in model: run `tokencast up` without --model",
                EXIT_USAGE,
            ) from None
        raise CliError(f"the stack refused: {error.message}", None, EXIT_USAGE) from None

"""The one call the CLI makes to the local stack's ``/_local/*`` admin endpoints.

Kept to a single function on purpose: the stack is gaining API-key auth on ``/_local/*`` and
a typed admin client of its own (``tokencast.local``); when that lands, this is the only
place to swap. It already sends the stack's API key in ``x-api-key``.
"""

from __future__ import annotations

from typing import Any

from tokencast.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError
from tokencast.cli.target import Target

_TIMEOUT_S = 10.0


def local_admin(target: Target, method: str, path: str, body: Any = None) -> Any:
    """``method`` ``/_local/<path>`` on the running local stack; the JSON answer.

    Raises :class:`CliError` when the target is not a local stack, cannot be reached, or
    refuses (the stack's message is kept: it names the field and the rule).
    """
    import requests

    if not target.local:
        raise CliError("this command works on the local stack only", "start one with `tokencast up`", EXIT_USAGE)
    base = target.graphql_url.rsplit("/graphql", 1)[0]
    url = f"{base}/_local/{path.lstrip('/')}"
    try:
        response = requests.request(
            method, url, json=body, headers={"x-api-key": target.api_key or ""}, timeout=_TIMEOUT_S
        )
    except requests.ConnectionError:
        raise CliError(
            f"cannot reach the local stack at {base}", "is `tokencast up` running?", EXIT_UNREACHABLE
        ) from None
    if response.status_code == 404:
        raise CliError(
            f"the stack at {base} has no /_local/{path}",
            "fault rules exist only for the built-in model: run `tokencast up` without --model",
            EXIT_USAGE,
        )
    try:
        answer = response.json()
    except ValueError:
        answer = {"message": response.text[:200]}
    if response.status_code >= 400:
        message = answer.get("message") if isinstance(answer, dict) else None
        raise CliError(f"the stack refused: {message or response.reason}", None, EXIT_USAGE)
    return answer

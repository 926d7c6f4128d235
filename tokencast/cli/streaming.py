"""``tokencast stream``, ``watch`` and ``cancel``: the client SDK on a terminal.

Ctrl-C (or the reader of a pipe going away, as with ``| head``) on ``stream`` cancels the
session, because otherwise the model keeps generating -- and on Bedrock, billing -- for
nobody; ``--detach`` leaves it running instead. A second Ctrl-C stops waiting at once.
On ``watch`` Ctrl-C only stops watching: the watcher may not be the owner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any, Literal
from urllib.parse import urlsplit

from tokencast.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CliError, Report
from tokencast.cli.status import Display, open_display, summary
from tokencast.cli.target import Target, resolve

#: how long ``cancel`` (and Ctrl-C on ``stream``) waits to see the session end CANCELLED
CANCEL_WAIT_S = 10.0
_TICK_S = 0.25

#: what Ctrl-C does: cancel the session (stream), leave it running (stream --detach), stop watching (watch)
OnInterrupt = Literal["cancel", "detach", "stop"]


def run(args: argparse.Namespace, report: Report) -> int:
    return asyncio.run(_run(args, report))


def make_auth(args: argparse.Namespace, target: Target) -> Any:
    from tokencast.client import ApiKeyAuth, IamAuth, JwtAuth

    if args.iam:
        return IamAuth(region=target.region)
    if args.token:
        return JwtAuth(args.token)
    if args.user:
        from tokencast.local.jwt_issuer import LocalJwtIssuer

        return JwtAuth(LocalJwtIssuer.from_env().mint(args.user))
    key = args.api_key or target.api_key
    if not key:
        raise CliError("this API needs credentials", "pass --token (Cognito), --iam or --api-key", EXIT_USAGE)
    return ApiKeyAuth(key)


async def _run(args: argparse.Namespace, report: Report) -> int:
    from tokencast.client import Endpoints, TokencastClient

    target = resolve(url=args.url, stack=args.stack, region=args.region)
    report.url, report.local = target.graphql_url, target.local
    try:
        Endpoints.from_url(target.graphql_url, target.realtime_url)
    except ValueError as exc:
        raise CliError(str(exc), "--url takes the API's GraphQL URL, e.g. https://…/graphql", EXIT_USAGE) from None
    client = TokencastClient(target.graphql_url, auth=make_auth(args, target), realtime_url=target.realtime_url)
    await reachable(target.graphql_url)
    async with client:
        if args.command == "cancel":
            return await cancel(client, args.session_id)
        if args.command == "watch":
            stream = await client.watch(args.session_id)
            display = open_display(stream.session_id, as_json=args.json)
            return await follow(client, stream, display, on_interrupt="stop")
        stream = await client.stream(
            args.prompt,
            system=args.system,
            model_id=args.model_id,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            session_id=args.session_id,
            visibility="SHARED" if args.shared else None,
        )
        display = open_display(stream.session_id, as_json=args.json)
        return await follow(client, stream, display, on_interrupt="detach" if args.detach else "cancel")


async def reachable(url: str, timeout_s: float = 3.0) -> None:
    """Fail at once, not after the SDK's whole retry budget, when nothing listens at ``url``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout_s)
    except (OSError, TimeoutError):
        from tokencast.client import ConnectionLost

        raise ConnectionLost(f"nothing answers at {parts.hostname}:{port}") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def follow(client: Any, stream: Any, display: Display, *, on_interrupt: OnInterrupt) -> int:
    """Show a stream until it ends or the user interrupts; return the exit code.

    ``on_interrupt``: ``cancel`` (stream: cancel the session and wait for it to end),
    ``detach`` (leave it running), ``stop`` (watch: stop watching).
    """
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    with _on_sigint(loop, interrupted):
        display.start()
        shower = asyncio.create_task(_show(stream, display))
        ticker = asyncio.create_task(_tick(stream, display))
        waiter = asyncio.create_task(interrupted.wait())
        try:
            await asyncio.wait({shower, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if shower.done():
                return shower.result()
            shower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shower
        except BrokenPipeError:
            # The reader went away (`| head`): like Ctrl-C, with nobody left to read stdout.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        finally:
            ticker.cancel()
            waiter.cancel()
            display.stop()
        return await _interrupted(client, stream.session_id, on_interrupt, interrupted)


async def _show(stream: Any, display: Display) -> int:
    async for delta in stream:
        display.delta(delta)
    result = await stream.result()
    display.finish(result)
    return 0 if str(result.status) == "COMPLETED" else EXIT_FAILED


async def _tick(stream: Any, display: Display) -> None:
    while True:
        display.progress.reconnecting = bool(getattr(stream, "reconnecting", False))
        display.tick()
        await asyncio.sleep(_TICK_S)


async def _interrupted(client: Any, session_id: str, on_interrupt: OnInterrupt, interrupted: asyncio.Event) -> int:
    say = _stderr_line
    if on_interrupt == "stop":
        say(f"\nstopped watching; session {session_id} goes on (`tokencast watch {session_id}` to rejoin)")
        return EXIT_INTERRUPTED
    if on_interrupt == "detach":
        say(
            f"\ndetached; session {session_id} keeps running "
            f"(`tokencast watch {session_id}` to rejoin, `tokencast cancel {session_id}` to stop it)"
        )
        return EXIT_INTERRUPTED
    say(f"\ncancelling session {session_id} so the model stops… (Ctrl-C again to stop waiting)")
    interrupted.clear()
    with _on_sigint(asyncio.get_running_loop(), interrupted):
        outcome = asyncio.create_task(_cancel_and_wait(client, session_id))
        waiter = asyncio.create_task(interrupted.wait())
        await asyncio.wait({outcome, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not outcome.done():
            outcome.cancel()
            say(f"stopped waiting; session {session_id} may still be running (`tokencast cancel {session_id}`)")
            return EXIT_INTERRUPTED
    try:
        line = outcome.result()
    except Exception as error:  # the cancel itself failed: say so, still one line
        line = f"could not cancel session {session_id}: {error}"
    say(line)
    return EXIT_INTERRUPTED


async def _cancel_and_wait(client: Any, session_id: str) -> str:
    """Cancel the session and wait for it to settle; one line saying how it ended."""
    before = await client.cancel(session_id)
    if before.is_final and str(before.status) != "CANCELLED":
        return f"session {session_id} had already ended {before.status}; nothing to cancel"
    final = await _settled(client.api, session_id)
    if final is None:
        return f"cancel requested for session {session_id}; the worker stops it within a second or two"
    return f"cancelled session {session_id}: {summary(final)}"


async def _settled(api: Any, session_id: str, timeout_s: float = CANCEL_WAIT_S) -> Any:
    """The session once it is final (polled), or None after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        session = await api.get_session(session_id)
        if session is not None and session.is_final:
            return session
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.2)


async def cancel(client: Any, session_id: str) -> int:
    """``tokencast cancel``: one line saying what happened; exit 1 when there was nothing to cancel."""
    before = await client.get_session(session_id)
    if before.is_final:
        print(f"session {session_id} had already ended {before.status}; nothing to cancel")
        return EXIT_FAILED
    await client.cancel(session_id)
    final = await _settled(client.api, session_id)
    if final is None:
        print(f"cancel requested for session {session_id} ({before.status}); the worker stops it shortly")
        return 0
    if str(final.status) != "CANCELLED":
        print(f"session {session_id} ended {final.status} before the cancel took effect; nothing cancelled")
        return EXIT_FAILED
    tokens = final.usage.output_tokens if final.usage else None
    detail = f" after {tokens} tokens" if tokens else f" (was {before.status})"
    print(f"cancelled session {session_id}{detail}")
    return 0


@contextlib.contextmanager
def _on_sigint(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Any:
    """Ctrl-C sets ``event`` instead of raising, so the command can clean up; restored after."""
    try:
        loop.add_signal_handler(signal.SIGINT, event.set)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()

"""``tokencast sessions``: your own sessions, newest first (``listSessions``), a page at a time."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from tokencast.cli.status import plain
from tokencast.cli.streaming import make_auth
from tokencast.cli.target import resolve


def add_parser(commands: Any, add_target_options: Any) -> argparse.ArgumentParser:
    sessions = commands.add_parser("sessions", help="list your sessions, newest first")
    sessions.add_argument("--limit", type=int, default=None, help="sessions per page (default: the API's maximum)")
    sessions.add_argument("--next-token", help="continue from where an earlier page ended")
    sessions.add_argument("--all", action="store_true", help="every page, not just the first")
    sessions.add_argument("--json", action="store_true", help="one JSON object per line")
    add_target_options(sessions)
    parser: argparse.ArgumentParser = sessions
    return parser


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    return asyncio.run(_run(args, out or sys.stdout, err or sys.stderr))


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from tokencast.client import TokencastClient, TokencastError

    target = resolve(url=args.url, stack=args.stack, region=args.region)
    try:
        async with TokencastClient(
            target.graphql_url, auth=make_auth(args, target), realtime_url=target.realtime_url
        ) as client:
            token, rows = args.next_token, 0
            if not args.json:
                out.write(_row("CREATED", "SESSION", "STATUS", "VISIBILITY", "TOKENS", "MODEL"))
            while True:
                page = await client.list_sessions(args.limit, token)
                for item in page.items:
                    rows += 1
                    out.write(json.dumps(plain(item)) + "\n" if args.json else _summary_row(item))
                token = page.next_token
                if token is None or not args.all:
                    break
    except TokencastError as error:
        err.write(f"tokencast sessions: {error}\n")
        return 1
    if token is not None:
        err.write(f"more: tokencast sessions --next-token {token}\n")
    elif not args.json and rows == 0:
        err.write("no sessions yet\n")
    return 0


def _summary_row(item: Any) -> str:
    output_tokens = item.usage.output_tokens if item.usage else None
    tokens = "" if output_tokens is None else str(output_tokens)
    return _row(
        item.created_at or "", item.session_id, str(item.status), item.visibility or "", tokens, item.model_id or ""
    )


def _row(*cells: str) -> str:
    created, session, status, visibility, tokens, model = cells
    return f"{created:<25} {session:<36} {status:<10} {visibility:<10} {tokens:>6}  {model}\n"

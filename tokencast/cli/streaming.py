"""``tokencast stream``, ``watch`` and ``cancel``: the client SDK on a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from tokencast.cli.target import Target, resolve


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


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
        raise SystemExit("this API needs --token (Cognito), --iam or --api-key")
    return ApiKeyAuth(key)


async def _run(args: argparse.Namespace) -> int:
    from tokencast.client import TokencastClient

    target = resolve(url=args.url, stack=args.stack, region=args.region)
    async with TokencastClient(
        target.graphql_url, auth=make_auth(args, target), realtime_url=target.realtime_url
    ) as client:
        if args.command == "cancel":
            session = await client.cancel(args.session_id)
            print(json.dumps(_plain(session)))
            return 0
        if args.command == "watch":
            stream = await client.watch(args.session_id)
        else:
            stream = await client.stream(
                args.prompt,
                system=args.system,
                model_id=args.model_id,
                max_tokens=args.max_tokens,
                temperature=args.temperature,
                session_id=args.session_id,
                visibility="SHARED" if args.shared else None,
            )
            if not args.json:
                print(f"[session {stream.session_id}]", file=sys.stderr, flush=True)
        return await print_stream(stream, as_json=args.json)


async def print_stream(stream: Any, *, as_json: bool) -> int:
    """Print deltas as they arrive; return 0 for COMPLETED, 1 otherwise."""
    out = sys.stdout
    async for delta in stream:
        if as_json:
            out.write(json.dumps(_plain(delta)) + "\n")
        elif delta.restarted:
            out.write(f"\n[attempt {delta.attempt} restarts the answer]\n")
        else:
            out.write(delta.text)
        out.flush()
    result = await stream.result()
    if as_json:
        out.write(json.dumps({"result": _plain(result)}) + "\n")
    else:
        usage = getattr(result, "usage", None) or {}
        detail = f", {usage.get('outputTokens')} tokens" if usage.get("outputTokens") is not None else ""
        reason = f": {result.error}" if getattr(result, "error", None) else ""
        out.write(f"\n\n[{result.status}{detail}{reason}]\n")
    out.flush()
    return 0 if str(result.status) == "COMPLETED" else 1


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return value

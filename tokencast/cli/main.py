"""``tokencast``: run the local stack, stream answers, watch sessions, operate the DLQ.

Each subcommand lives in its own module; this file only wires arguments to them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tokencast import __version__
from tokencast.local import DEFAULT_API_KEY, DEFAULT_PORT


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (default: the running `tokencast up`)")
    group.add_argument("--url", help="GraphQL URL of a tokencast API")
    group.add_argument("--stack", help="name of a deployed tokencast CloudFormation stack")
    group.add_argument("--region", help="AWS region (with --stack or an IAM-signed --url)")
    auth = parser.add_argument_group("auth (default: the local API key)")
    auth.add_argument("--api-key", help="AppSync API key")
    auth.add_argument("--user", help="local only: act as this user (a JWT from the local issuer)")
    auth.add_argument("--token", help="a Cognito (or local) ID token")
    auth.add_argument("--iam", action="store_true", help="sign with your AWS credentials (SigV4)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokencast",
        description="Run the local stack, stream answers, watch sessions, operate the dead-letter queue.",
    )
    parser.add_argument("--version", action="version", version=f"tokencast {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole pipeline locally until Ctrl-C")
    up.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"emulator + local model port (default {DEFAULT_PORT})"
    )
    up.add_argument("--moto-port", type=int, default=None, help="moto server port (default: --port + 1)")
    up.add_argument(
        "--tls-port", type=int, default=None, help="HTTPS/WSS port for Amplify and browsers (default: --port + 2)"
    )
    up.add_argument("--no-tls", action="store_true", help="serve plain HTTP only (Amplify JS v6 then cannot subscribe)")
    up.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"API key clients use (default {DEFAULT_API_KEY})")
    up.add_argument(
        "--model",
        choices=["local", "bedrock"],
        default="local",
        help="local: the built-in stand-in model; bedrock: real Bedrock with your AWS credentials",
    )
    up.add_argument(
        "--model-id",
        action="append",
        dest="model_ids",
        help="with --model bedrock: allow this model id (repeatable; the first is the default)",
    )
    up.add_argument("--tokens-per-second", type=float, default=None, help="local model speed (default 150)")
    up.add_argument(
        "--first-token-delay", type=float, default=None, help="local model latency in seconds (default 0.05)"
    )
    up.add_argument("--flush-window-ms", type=int, default=None, help="publish coalescing window (default 50)")
    up.add_argument(
        "--worker-isolation",
        choices=["thread", "process"],
        default="thread",
        help="run the process handler on threads (default) or in per-invocation-environment "
        "processes, like Lambda's execution environments",
    )

    demo = commands.add_parser("demo", help="start the local stack, stream one answer live, stop")
    demo.add_argument("prompt", nargs="?", default="Explain in a few sentences why streaming tokens matters.")

    stream = commands.add_parser("stream", help="start a stream and print the answer as it arrives")
    stream.add_argument("prompt")
    stream.add_argument("--system")
    stream.add_argument("--model-id")
    stream.add_argument("--max-tokens", type=int)
    stream.add_argument("--temperature", type=float)
    stream.add_argument("--session-id", help="client-chosen UUID (makes the call idempotent)")
    stream.add_argument("--shared", action="store_true", help="let any signed-in user watch this session")
    stream.add_argument("--json", action="store_true", help="one JSON event per line instead of text")
    _add_target_options(stream)

    watch = commands.add_parser("watch", help="join a running or finished session and print its text")
    watch.add_argument("session_id")
    watch.add_argument("--json", action="store_true", help="one JSON event per line instead of text")
    _add_target_options(watch)

    cancel = commands.add_parser("cancel", help="cancel a session you own")
    cancel.add_argument("session_id")
    _add_target_options(cancel)

    from tokencast.cli import sessions

    sessions.add_parser(commands, _add_target_options)

    token = commands.add_parser("token", help="mint a local JWT for a named user (stands in for Cognito)")
    token.add_argument("--user", required=True)
    token.add_argument("--group", action="append", default=[], dest="groups")

    dlq = commands.add_parser("dlq", help="inspect and replay failed jobs")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_commands.add_parser("list", help="jobs in the dead-letter queue")
    dlq_show = dlq_commands.add_parser("show", help="one job, whole")
    dlq_show.add_argument("message_id")
    replay = dlq_commands.add_parser("replay", help="send jobs back to the jobs queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", action="append", dest="sessions", metavar="SESSION_ID")
    which.add_argument("--all", action="store_true")
    replay.add_argument("--dry-run", action="store_true")
    replay.add_argument("--rate", type=float, default=None, help="jobs per second (default: no limit)")
    replay.add_argument("--force", action="store_true", help="also replay sessions that COMPLETED")
    purge = dlq_commands.add_parser("purge", help="delete every job in the dead-letter queue")
    purge.add_argument("--yes", action="store_true", help="do not ask")
    for sub in (dlq_list, dlq_show, replay, purge):
        sub.add_argument("--json", action="store_true")
        sub.add_argument("--stack")
        sub.add_argument("--region")
        sub.add_argument("--url", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("up", "demo"):
            from tokencast.cli import local

            return local.run(args)
        if args.command in ("stream", "watch", "cancel"):
            from tokencast.cli import streaming

            return streaming.run(args)
        if args.command == "sessions":
            from tokencast.cli import sessions

            return sessions.run(args)
        if args.command == "token":
            from tokencast.local.jwt_issuer import LocalJwtIssuer

            print(LocalJwtIssuer.from_env().mint(args.user, groups=tuple(args.groups)))
            return 0
        if args.command == "dlq":
            from tokencast.cli import dlq

            return dlq.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`tokencast stream --json ... | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 2


if __name__ == "__main__":
    sys.exit(main())

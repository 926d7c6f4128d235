"""``tokencast``: run the local stack, stream answers, watch sessions, operate the DLQ.

Each subcommand lives in its own module; this file only wires arguments to them, and runs
each inside :func:`tokencast.cli.errors.reported`, so a mistake is one line and a hint (the
traceback only with ``--debug``) and every outcome has its exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tokencast import __version__
from tokencast.cli.errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_USAGE, Report, reported
from tokencast.local import DEFAULT_API_KEY, DEFAULT_PORT

#: kinds of the local model's fault rules (tokencast.local.bedrock.server.FaultRule)
FAULT_KINDS = ("throttle", "server_error", "http_error", "fail_after", "slow", "stall")


def _add_debug(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show the full traceback when something fails"
    )


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


def _add_up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser(
        "up",
        help="run the whole pipeline locally until Ctrl-C",
        description="Run the AppSync emulator, moto (SQS, DynamoDB), the worker and a model in this process. "
        "Sessions live in memory: they vanish when `up` stops.",
    )
    up.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"emulator + local model port (default {DEFAULT_PORT}; 0: any)"
    )
    up.add_argument("--moto-port", type=int, default=None, help="moto server port (default: --port + 1)")
    up.add_argument(
        "--tls-port", type=int, default=None, help="HTTPS/WSS port for Amplify and browsers (default: --port + 2)"
    )
    up.add_argument("--no-tls", action="store_true", help="serve plain HTTP only (Amplify JS v6 then cannot subscribe)")
    up.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"API key clients use (default {DEFAULT_API_KEY})")
    up.add_argument(
        "--model",
        choices=["local", "bedrock", "openai"],
        default="local",
        help="local: the built-in stand-in model; bedrock: real Bedrock with your AWS credentials; "
        "openai: any OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio) via --openai-base-url",
    )
    up.add_argument(
        "--model-id",
        action="append",
        dest="model_ids",
        metavar="ID",
        help="with --model bedrock or openai: allow this model id (repeatable; the first is the default)",
    )
    up.add_argument(
        "--openai-base-url",
        metavar="URL",
        help="with --model openai: the server's API base, e.g. http://127.0.0.1:11434/v1 (Ollama)",
    )
    up.add_argument(
        "--openai-api-key-env",
        metavar="VAR",
        default="OPENAI_API_KEY",
        help="with --model openai: environment variable holding the server's API key, if it wants one "
        "(default OPENAI_API_KEY)",
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
    up.add_argument(
        "--log-format",
        choices=["short", "json"],
        default="short",
        help="handler logs as one short line each (default) or as the JSON Lambda would write",
    )
    _add_debug(up)


def _add_streams(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stream = commands.add_parser(
        "stream",
        help="start a stream and print the answer as it arrives",
        description="Start a session and print its answer as it arrives. Ctrl-C cancels the session "
        "(the model stops); with --detach it keeps running.",
    )
    stream.add_argument("prompt", help="the question (one argument: quote it)")
    stream.add_argument("--system", help="a system prompt")
    stream.add_argument("--model-id", help="a model of the stack's allow-list (default: the stack's default)")
    stream.add_argument("--max-tokens", type=int, help="longest answer, in tokens (default: the stack's default)")
    stream.add_argument("--temperature", type=float, help="0 (predictable) to 1 (varied)")
    stream.add_argument(
        "--session-id", help="client-chosen UUID: repeating the same request with it rejoins the session"
    )
    stream.add_argument("--shared", action="store_true", help="let any signed-in user watch this session")
    stream.add_argument("--json", action="store_true", help="one JSON object per line (each with the sessionId)")
    stream.add_argument(
        "--detach", action="store_true", help="on Ctrl-C leave the session running instead of cancelling it"
    )
    _add_target_options(stream)
    _add_debug(stream)

    watch = commands.add_parser(
        "watch", help="join a running or finished session and print its text (Ctrl-C stops watching)"
    )
    watch.add_argument("session_id", help="the session's id (`tokencast stream` prints it)")
    watch.add_argument("--json", action="store_true", help="one JSON object per line (each with the sessionId)")
    _add_target_options(watch)
    _add_debug(watch)

    cancel = commands.add_parser("cancel", help="cancel a session you own (exit 1 if there was nothing to cancel)")
    cancel.add_argument("session_id", help="the session's id")
    _add_target_options(cancel)
    _add_debug(cancel)

    from tokencast.cli import sessions

    _add_debug(sessions.add_parser(commands, _add_target_options))


def _add_dlq(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser("dlq", help="inspect, replay and purge failed jobs")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="{list,show,replay,purge}")
    dlq_list = dlq_commands.add_parser("list", help="jobs in the dead-letter queue (they stay there)")
    dlq_show = dlq_commands.add_parser("show", help="one job, whole (it stays in the queue)")
    dlq_show.add_argument("message_id", help="the job's MESSAGE ID from `tokencast dlq list`")
    replay = dlq_commands.add_parser("replay", help="send jobs back to the jobs queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--session",
        action="append",
        dest="sessions",
        metavar="SESSION_ID",
        help="replay this session's job (repeatable)",
    )
    which.add_argument("--all", action="store_true", help="replay every job in the queue")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed; change nothing")
    replay.add_argument("--rate", type=float, default=None, help="jobs per second (default: no limit)")
    replay.add_argument("--force", action="store_true", help="also replay sessions that COMPLETED")
    purge = dlq_commands.add_parser("purge", help="delete every job in the dead-letter queue")
    purge.add_argument("--yes", action="store_true", help="do not ask")
    for sub in (dlq_list, dlq_show, replay, purge):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.add_argument("--stack", help="name of a deployed tokencast CloudFormation stack (default: local)")
        sub.add_argument("--region", help="AWS region of --stack")
        sub.add_argument("--url", help=argparse.SUPPRESS)
        _add_debug(sub)


def _add_faults(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    faults = commands.add_parser("faults", help="make the local model fail on purpose (fault rules)")
    sub = faults.add_subparsers(dest="faults_command", required=True, metavar="{add,list,clear}")
    add = sub.add_parser(
        "add",
        help="arm a fault rule",
        description="Arm a rule for the next matching requests of the local model. Kinds: "
        "throttle (429), server_error (500/503), http_error (any modelled Bedrock error, e.g. "
        "AccessDeniedException: a permanent failure), fail_after (stream N tokens, then an in-stream "
        "error), slow (extra delay per token), stall (N tokens, then silence).",
    )
    add.add_argument("kind", choices=FAULT_KINDS, help="what goes wrong")
    add.add_argument("--match", help="only prompts containing this text (default: every prompt)")
    times = add.add_mutually_exclusive_group()
    times.add_argument("--times", type=int, default=1, help="how many requests it applies to (default 1)")
    times.add_argument("--always", action="store_true", help="every matching request until `faults clear`")
    add.add_argument("--status", type=int, choices=[500, 503], help="server_error: the status (default 500)")
    add.add_argument("--error", help="http_error: the Bedrock error, e.g. AccessDeniedException")
    add.add_argument("--after", type=int, help="fail_after / stall: tokens streamed first (default 0)")
    add.add_argument(
        "--exception",
        help="fail_after: the in-stream exception (default modelStreamErrorException; "
        "e.g. throttlingException, validationException)",
    )
    add.add_argument("--delay", type=float, dest="delay_s", help="slow: extra seconds before every token")
    add.add_argument("--message", help="the error message the model answers with")
    listing = sub.add_parser("list", help="armed rules and their remaining uses")
    clear = sub.add_parser("clear", help="remove every rule")
    for parser in (add, listing, clear):
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        _add_debug(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokencast",
        description="Run the local stack, stream answers, watch sessions, operate the dead-letter queue.",
        epilog="exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"tokencast {__version__}")
    _add_debug(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_up(commands)
    demo = commands.add_parser("demo", help="start the local stack, stream one answer live, stop")
    demo.add_argument(
        "prompt", nargs="?", default="Explain in a few sentences why streaming tokens matters.", help="the question"
    )
    _add_debug(demo)
    _add_streams(commands)

    token = commands.add_parser("token", help="mint a local JWT for a named user (stands in for Cognito)")
    token.add_argument("--user", required=True, help="the user's name (the token's username and sub)")
    _add_debug(token)

    _add_dlq(commands)
    _add_faults(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("TOKENCAST_DEBUG") == "1"
    command = args.command
    try:
        with reported(command, debug=debug) as report:
            report.code = _dispatch(args, report)
        return report.code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tokencast dlq list | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _dispatch(args: argparse.Namespace, report: Report) -> int:
    if args.command in ("up", "demo"):
        from tokencast.cli import local

        return local.run(args)
    if args.command in ("stream", "watch", "cancel"):
        from tokencast.cli import streaming

        return streaming.run(args, report)
    if args.command == "sessions":
        from tokencast.cli import sessions

        return sessions.run(args)
    if args.command == "token":
        from tokencast.local.jwt_issuer import LocalJwtIssuer

        print(LocalJwtIssuer.from_env().mint(args.user))
        return 0
    if args.command == "dlq":
        from tokencast.cli import dlq

        return dlq.run(args)
    if args.command == "faults":
        from tokencast.cli import faults

        return faults.run(args)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

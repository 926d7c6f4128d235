"""``tokencast up`` and ``tokencast demo``: the local stack in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import NoReturn

from pydantic import ValidationError

from tokencast.cli.banner import describe, invocation
from tokencast.cli.errors import EXIT_USAGE, CliError
from tokencast.cli.logs import compact_stdout_until_exit, finish_compacting
from tokencast.cli.target import Target, clear_local, save_local
from tokencast.config import Limits, Settings
from tokencast.local.bedrock.config import LocalBedrockConfig
from tokencast.local.bedrock.openai_bridge import OpenAIBridgeConfig
from tokencast.local.ports import PortInUse
from tokencast.local.stack import LocalEndpoints, LocalStack, StackConfig


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "up":
        config = stack_config(args)
        if args.log_format == "short":
            compact_stdout_until_exit()
        code = asyncio.run(_up(config))
        exit_without_finalizing(code)
    return asyncio.run(_demo(args.prompt))


def exit_without_finalizing(code: int) -> NoReturn:
    """End ``up`` as soon as the stack has stopped and its state file is gone.

    Python's own shutdown then spends seconds garbage-collecting moto's and boto's objects
    (measured: 3-5 s here), which made Ctrl-C feel ignored; nothing in them needs finalizing.
    Log lines still in the compactor's pipe are written first.
    """
    finish_compacting()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def stack_config(args: argparse.Namespace) -> StackConfig:
    """The stack ``up`` asked for, or a :class:`CliError` naming what is missing."""
    model = {}
    if args.tokens_per_second is not None:
        model["tokens_per_second"] = args.tokens_per_second
    if args.first_token_delay is not None:
        model["first_token_delay_s"] = args.first_token_delay
    settings: dict[str, str] = {}
    if args.flush_window_ms is not None:
        try:
            settings.update(Settings(flush_window_ms=args.flush_window_ms).to_env(exclude_unset=True))
        except ValidationError as exc:
            raise CliError(f"--flush-window-ms: {exc.errors()[0]['msg']}", None, EXIT_USAGE) from None
    openai = None
    if args.model in ("bedrock", "openai"):
        if not args.model_ids:
            example = "anthropic.claude-3-haiku-20240307-v1:0" if args.model == "bedrock" else "llama3.2"
            raise CliError(
                f"--model {args.model} needs at least one --model-id", f"e.g. --model-id {example}", EXIT_USAGE
            )
        settings.update(
            Limits(allowed_models=args.model_ids, default_model=args.model_ids[0]).to_env(exclude_unset=True)
        )
    if args.model == "bedrock":
        _require_bedrock_credentials()
    if args.model == "openai":
        if not args.openai_base_url:
            raise CliError(
                "--model openai needs --openai-base-url",
                "e.g. --openai-base-url http://127.0.0.1:11434/v1 (Ollama) or http://127.0.0.1:8080/v1 (llama.cpp)",
                EXIT_USAGE,
            )
        openai = OpenAIBridgeConfig(base_url=args.openai_base_url, api_key=os.environ.get(args.openai_api_key_env))
    elif args.openai_base_url:
        raise CliError("--openai-base-url works with --model openai only", "add --model openai", EXIT_USAGE)
    return StackConfig(
        port=args.port,
        moto_port=args.moto_port if args.moto_port is not None else (args.port + 1 if args.port else 0),
        api_key=args.api_key,
        model=args.model,
        model_config=LocalBedrockConfig(**model),
        openai=openai,
        settings=settings,
        worker_isolation=args.worker_isolation,
        tls_port=None
        if args.no_tls
        else (args.tls_port if args.tls_port is not None else (args.port + 2 if args.port else 0)),
    )


def _require_bedrock_credentials() -> None:
    """Fail before starting anything: Bedrock is the one part that needs an AWS account."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        credentials = boto3.Session().get_credentials()
    except BotoCoreError as exc:
        raise CliError(f"--model bedrock: could not load AWS credentials ({exc})", None, EXIT_USAGE) from None
    if credentials is None:
        raise CliError(
            "--model bedrock needs AWS credentials for Bedrock, and none were found",
            "set AWS_PROFILE, or run `aws configure` / `aws sso login` (everything else stays local); "
            "or drop --model bedrock for the built-in model",
            EXIT_USAGE,
        )


def as_target(endpoints: LocalEndpoints) -> Target:
    return Target(
        graphql_url=endpoints.graphql_url,
        realtime_url=endpoints.realtime_url,
        region=endpoints.region,
        api_key=endpoints.api_key,
        jobs_queue_url=endpoints.queues.jobs_url,
        dlq_url=endpoints.queues.dlq_url,
        table_name=endpoints.table_name,
        aws_endpoint_url=endpoints.moto_url,
        local=True,
        https_graphql_url=endpoints.https_graphql_url,
        ca_cert=str(endpoints.ca_cert.resolve()) if endpoints.ca_cert else None,
    )


def port_in_use(error: PortInUse, config: StackConfig) -> CliError:
    """``up`` on a busy port: which port, what it was for, and how to pick another."""
    if error.role == "tls":
        return CliError(
            f"port {error.port} (HTTPS/WSS for Amplify and browsers) is in use",
            f"pick another with --tls-port N, or --no-tls; `lsof -i :{error.port}` shows who holds it",
            EXIT_USAGE,
        )
    if error.role == "moto":
        hint = (
            f"pick another with --moto-port N, or move both with --port N (moto takes N+1); "
            f"`lsof -i :{error.port}` shows who holds it"
        )
        return CliError(f"port {error.port} (moto: SQS and DynamoDB) is in use", hint, EXIT_USAGE)
    other = config.port + 10 if config.port else 4010
    return CliError(
        f"port {error.port} (GraphQL and the model) is in use",
        f"is another `tokencast up` running? Otherwise pick another port: tokencast up --port {other} "
        f"(`lsof -i :{error.port}` shows who holds it)",
        EXIT_USAGE,
    )


async def _up(config: StackConfig) -> int:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Installed first: Ctrl-C works while the stack is still starting, too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    stack = LocalStack(config)
    starting = asyncio.create_task(stack.start())
    interrupted = asyncio.create_task(stopped.wait())
    await asyncio.wait({starting, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        print("stopped before the stack was up", file=sys.stderr, flush=True)
        await stack.stop()
        return 130
    interrupted.cancel()
    try:
        endpoints = starting.result()
    except PortInUse as error:
        await stack.stop()
        raise port_in_use(error, config) from None
    state = save_local(as_target(endpoints))
    print(describe(endpoints, command=invocation(), state_file=str(state)), flush=True)
    try:
        await stopped.wait()
    finally:
        print("stopping… (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        clear_local()
        loop.add_signal_handler(signal.SIGINT, _quit_now)
        await stack.stop()
    return 0


def _quit_now() -> None:
    """A second Ctrl-C while stopping: leave without waiting for in-flight work."""
    print("quit before everything stopped", file=sys.stderr, flush=True)
    os._exit(130)


async def _demo(prompt: str) -> int:
    from tokencast.cli.status import open_display
    from tokencast.cli.streaming import follow
    from tokencast.client import ApiKeyAuth, TokencastClient

    async with LocalStack(StackConfig(port=0, tls_port=None, log_level="WARNING")) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None  # set by start(), which entering the stack ran
        print(f"local stack on {endpoints.graphql_url}; streaming an answer to: {prompt!r}\n", flush=True)
        async with TokencastClient(endpoints.graphql_url, auth=ApiKeyAuth(endpoints.api_key)) as client:
            stream = await client.stream(prompt)
            return await follow(client, stream, open_display(stream.session_id, as_json=False), on_interrupt="cancel")

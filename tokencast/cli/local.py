"""``tokencast up`` and ``tokencast demo``: the local stack in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from tokencast.cli.target import Target, clear_local, save_local
from tokencast.local.bedrock.server import LocalBedrockConfig
from tokencast.local.stack import Endpoints, LocalStack, StackConfig


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "up":
        return asyncio.run(_up(args))
    return asyncio.run(_demo(args.prompt))


def _stack_config(args: argparse.Namespace) -> StackConfig:
    model = {}
    if args.tokens_per_second is not None:
        model["tokens_per_second"] = args.tokens_per_second
    if args.first_token_delay is not None:
        model["first_token_delay_s"] = args.first_token_delay
    settings = {}
    if args.flush_window_ms is not None:
        settings["TOKENCAST_FLUSH_WINDOW_MS"] = str(args.flush_window_ms)
    if args.model == "bedrock":
        if not args.model_ids:
            raise SystemExit("--model bedrock needs at least one --model-id (a Bedrock model or inference profile id)")
        settings["TOKENCAST_ALLOWED_MODELS"] = ",".join(args.model_ids)
        settings["TOKENCAST_DEFAULT_MODEL"] = args.model_ids[0]
    return StackConfig(
        port=args.port,
        moto_port=args.moto_port if args.moto_port is not None else (args.port + 1 if args.port else 0),
        api_key=args.api_key,
        model=args.model,
        model_config=LocalBedrockConfig(**model),
        settings=settings,
        worker_isolation=args.worker_isolation,
        tls_port=None
        if args.no_tls
        else (args.tls_port if args.tls_port is not None else (args.port + 2 if args.port else 0)),
    )


def as_target(endpoints: Endpoints) -> Target:
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


def describe(endpoints: Endpoints) -> str:
    lines = ["tokencast local stack is up", f"  web console        {endpoints.console_url}"]
    if endpoints.https_console_url:
        lines.append(f"                     {endpoints.https_console_url}  (once the local CA below is trusted)")
    if endpoints.https_graphql_url and endpoints.ca_cert:
        ca = endpoints.ca_cert.resolve()
        lines += [
            f"  GraphQL endpoint   {endpoints.https_graphql_url}   <- Amplify, Apollo, browsers",
            f"  real-time          {endpoints.wss_realtime_url}",
            f"  local CA           {ca}",
            f"                     Node: NODE_EXTRA_CA_CERTS={ca}",
            "                     browsers: import it as a trusted authority (docs/frontends.md)",
        ]
    lines += [
        f"  GraphQL (HTTP)     {endpoints.graphql_url}   <- tokencast CLI and Python SDK",
        f"  real-time (HTTP)   {endpoints.realtime_url}  (also ws://…/graphql)",
        f"  API key            {endpoints.api_key}",
        "  IAM                access key test / secret test, region " + endpoints.region,
        "  JWT                tokencast token --user alice",
        f"  model              {endpoints.model_url}",
        f"  SQS + DynamoDB     {endpoints.moto_url} (moto)",
        f"  jobs queue         {endpoints.queues.jobs_url}",
        f"  dead-letter queue  {endpoints.queues.dlq_url}",
        "",
        'try:  tokencast stream "Tell me about streaming"',
        "Ctrl-C stops.",
    ]
    return "\n".join(lines)


async def _up(args: argparse.Namespace) -> int:
    stack = LocalStack(_stack_config(args))
    endpoints = await stack.start()
    state = save_local(as_target(endpoints))
    print(describe(endpoints), flush=True)
    print(f"  (endpoints saved to {state})", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        print("stopping…", file=sys.stderr, flush=True)
        clear_local()
        await stack.stop()
    return 0


async def _demo(prompt: str) -> int:
    from tokencast.cli.streaming import print_stream
    from tokencast.client import ApiKeyAuth, TokencastClient

    async with LocalStack(StackConfig(port=0, tls_port=None, log_level="WARNING")) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None  # set by start(), which entering the stack ran
        print(f"local stack on {endpoints.graphql_url}; streaming an answer to: {prompt!r}\n", flush=True)
        async with TokencastClient(endpoints.graphql_url, auth=ApiKeyAuth(endpoints.api_key)) as client:
            stream = await client.stream(prompt)
            return await print_stream(stream, as_json=False)

"""``tokencast up``: the whole pipeline in one process, no AWS account needed.

One aiohttp server carries the AppSync emulator (``/graphql``, ``/graphql/realtime``) and
the local Bedrock stand-in (``/model/{id}/converse-stream``); moto server serves SQS and
DynamoDB on a second port, from a child process by default (``moto_isolation``); an SQS
poller feeds the process handler like Lambda's event source mapping. The handlers are the deployed ones, configured only through the standard
environment variables (``AWS_ENDPOINT_URL_*``, ``TOKENCAST_*``), which is why the stack sets
them on this process before the first handler is imported: one stack per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from aiohttp import web

from tokencast.config import (
    LOCAL_MODEL_ID,
    WORKER_CONCURRENCY,
    ApiLimits,
    Limits,
    LocalWiring,
    Quotas,
    Settings,
    Wiring,
)
from tokencast.core.dlq import DeadLetterQueue
from tokencast.core.store import SessionStore
from tokencast.local import DEFAULT_API_KEY, DEFAULT_PORT, state_dir
from tokencast.local.admin import guard_admin_routes
from tokencast.local.appsync.auth import AuthConfig, Authenticator
from tokencast.local.appsync.cost import ExecutionLimits
from tokencast.local.appsync.emulator import AppSyncEmulator, EmulatorConfig
from tokencast.local.appsync.realtime import RealtimeConfig
from tokencast.local.background import BackgroundLoop
from tokencast.local.bedrock.openai_bridge import OpenAIBridge, OpenAIBridgeConfig
from tokencast.local.bedrock.server import LocalBedrock, LocalBedrockConfig
from tokencast.local.console import Console, ConsoleConfig
from tokencast.local.jwt_issuer import LocalJwtIssuer
from tokencast.local.lambda_runtime import LocalFunction
from tokencast.local.moto_process import MotoProcess
from tokencast.local.moto_server import MotoServer
from tokencast.local.ports import bind
from tokencast.local.resources import QueueSet, create_queues, create_table
from tokencast.local.sqs_poller import PollerConfig, SqsPoller
from tokencast.local.tls import TlsFiles, ensure_certificates
from tokencast.resolvers import ResolverMap

log = logging.getLogger(__name__)

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    moto_port: int = 0
    #: HTTPS/WSS on this port (0: any free port; None: no TLS). Amplify JS v6 always dials
    #: wss:// for subscriptions, so browsers and Amplify use this one.
    tls_port: int | None = 0
    #: where the local CA and server certificate live (default: <state dir>/tls)
    tls_dir: Path | None = None
    api_key: str = DEFAULT_API_KEY
    region: str = "us-east-1"
    #: "local" serves the local model; "bedrock" sends ConverseStream to real Bedrock;
    #: "openai" answers ConverseStream from an OpenAI-compatible server (``openai``)
    model: str = "local"
    model_config: LocalBedrockConfig = field(default_factory=LocalBedrockConfig)
    openai: OpenAIBridgeConfig | None = None
    keep_alive_interval_s: float = 60.0
    worker_concurrency: int = WORKER_CONCURRENCY  # as deployed
    #: "thread": the process handler runs on threads of this process; "process": in spawned
    #: execution environments, one invocation each at a time, that can crash like Lambda's
    worker_isolation: Literal["thread", "process"] = "thread"
    #: "process": moto server runs in a child process (its own GIL: less jitter for everything
    #: else); "thread": on a thread of this process
    moto_isolation: Literal["thread", "process"] = "process"
    prefix: str = "tokencast-local"
    #: the handlers' Powertools log level (their JSON logs go to stdout, as in Lambda)
    log_level: str = "INFO"
    #: extra TOKENCAST_* settings (flush window, limits, quotas ...) for the handlers; the
    #: queue's numbers (redrive, visibility) and the API limits are derived from them too
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalEndpoints:
    graphql_url: str
    realtime_url: str
    #: the same API over TLS (None without TLS): what Amplify and browsers are configured with
    https_graphql_url: str | None
    wss_realtime_url: str | None
    #: the local CA that signed the TLS certificate: trust it (NODE_EXTRA_CA_CERTS, browsers)
    ca_cert: Path | None
    model_url: str
    moto_url: str
    api_key: str
    region: str
    queues: QueueSet
    table_name: str
    #: the web console (clients/console), served by this same server over HTTP, and over
    #: TLS when there is TLS (there it streams through Amplify; see docs/console.md)
    console_url: str
    https_console_url: str | None


class LocalStack:
    """Start with ``await stack.start()`` (or ``async with``), stop with ``await stack.stop()``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.model: LocalBedrock | None = None
        self.emulator: AppSyncEmulator | None = None
        self.console: Console | None = None
        self.poller: SqsPoller | None = None
        self.endpoints: LocalEndpoints | None = None
        self._undo: contextlib.AsyncExitStack | None = None
        self._runner: web.AppRunner | None = None
        self.tls: TlsFiles | None = None
        self._process: LocalFunction | None = None

    @property
    def process_function(self) -> LocalFunction:
        """The processing handler's function (benchmarks redeploy it with new settings)."""
        assert self._process is not None, "start() first"
        return self._process

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def start(self) -> LocalEndpoints:
        """Start every piece; if one fails, undo the ones already started and re-raise.

        Each piece registers its own undo as it starts (sockets, moto, ``os.environ``,
        servers, functions, the poller), so a failure anywhere leaves the process as it was.
        """
        async with contextlib.AsyncExitStack() as undo:
            endpoints = await self._start(undo)
            self._undo = undo.pop_all()
        return endpoints

    async def stop(self) -> None:
        """Undo :meth:`start` in reverse order, ``os.environ`` included (idempotent)."""
        undo, self._undo = self._undo, None
        if undo is not None:
            await undo.aclose()

    async def _start(self, undo: contextlib.AsyncExitStack) -> LocalEndpoints:
        config = self.config
        # Both ports are taken before anything starts, so a busy one fails at once.
        sock = undo.enter_context(contextlib.closing(bind(config.host, config.port, "main")))
        moto_url = await self._start_moto(undo)
        port = sock.getsockname()[1]
        base_url = f"http://{config.host}:{port}"
        app = web.Application(client_max_size=EmulatorConfig.max_body_bytes + 1)
        table_name = f"{config.prefix}-sessions"
        # The cloud's defaults, overridden only by TOKENCAST_* of this process and of the config.
        overrides = {**os.environ, **config.settings}
        settings = Settings.from_env(overrides, table_name=table_name, region=config.region)
        quotas = Quotas.from_env(overrides)
        api_limits = ApiLimits.from_env(overrides)

        env = {
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_ENDPOINT_URL_SQS": moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "POWERTOOLS_SERVICE_NAME": "tokencast",
            "POWERTOOLS_METRICS_NAMESPACE": "tokencast",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            **LocalWiring(local_api_keys=[config.api_key]).to_env(),
        }
        if config.model in ("local", "openai"):
            env.update(LOCAL_CREDENTIALS)
            env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = base_url
        saved_environ = dict(os.environ)
        undo.callback(_restore_environ, saved_environ)
        os.environ.update(env)

        # moto accepts any credentials: the stack's own calls never depend on the user's
        # (with --model bedrock those are for Bedrock alone).
        key, secret = LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"], LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        sqs = boto3.client(
            "sqs", region_name=config.region, endpoint_url=moto_url, aws_access_key_id=key, aws_secret_access_key=secret
        )
        dynamodb = boto3.client(
            "dynamodb",
            region_name=config.region,
            endpoint_url=moto_url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        create_table(dynamodb, table_name)
        queues = create_queues(sqs, prefix=config.prefix, settings=settings)
        handler_env = {
            **settings.to_env(),
            **quotas.to_env(),
            **Wiring(
                jobs_queue_url=queues.jobs_url, dead_letter_queue_url=queues.dlq_url, graphql_url=f"{base_url}/graphql"
            ).to_env(exclude_unset=True),
            **self._model_limits(),
            **config.settings,
        }
        os.environ.update(handler_env)

        auth = self._auth_config()
        self.emulator = AppSyncEmulator(
            Authenticator(auth),
            EmulatorConfig(
                realtime=RealtimeConfig(keep_alive_interval_s=config.keep_alive_interval_s),
                region=config.region,
                limits=ExecutionLimits.from_api(api_limits),
            ),
        )
        self.emulator.add_routes(app)
        self.console = Console(
            ConsoleConfig(region=config.region, api_key=config.api_key),
            issuer=auth.jwt,
            dead_letter_queue=lambda: DeadLetterQueue(
                sqs, queues.dlq_url, queues.jobs_url, SessionStore(dynamodb, table_name)
            ),
            bind_host=config.host,
        )
        self.console.add_routes(app)
        if config.model == "local":
            self.model = LocalBedrock(config.model_config)
            undo.callback(self.model.shutdown)
            self.model.add_to(app)
        elif config.model == "openai":
            if config.openai is None:
                raise ValueError("model 'openai' needs StackConfig.openai (the server's base URL)")
            OpenAIBridge(config.openai).add_to(app)
        guard_admin_routes(app, [config.api_key], bind_host=config.host)

        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        undo.push_async_callback(self._runner.cleanup)
        await web.SockSite(self._runner, sock).start()
        https_url = wss_url = https_console_url = None
        if config.tls_port is not None:
            self.tls = ensure_certificates(config.tls_dir or state_dir() / "tls", (config.host,))
            tls_sock = bind(config.host, config.tls_port, "tls")
            tls_port = tls_sock.getsockname()[1]
            try:  # once serving, the runner's cleanup closes it
                await web.SockSite(self._runner, tls_sock, ssl_context=self.tls.server_context()).start()
            except BaseException:
                tls_sock.close()
                raise
            https_url = f"https://{config.host}:{tls_port}/graphql"
            wss_url = f"wss://{config.host}:{tls_port}/graphql/realtime"
            https_console_url = f"https://{config.host}:{tls_port}/"

        declaration = ResolverMap.load()
        self._process = LocalFunction(
            "process",
            declaration.functions["process"].handler,
            timeout_s=settings.worker_timeout_s,
            concurrency=config.worker_concurrency,
            region=config.region,
            isolation=config.worker_isolation,
        )
        undo.push_async_callback(self._process.drain_and_close)
        self.poller = SqsPoller(
            sqs,
            self._process,
            PollerConfig(
                queue_url=queues.jobs_url,
                queue_arn=queues.jobs_arn,
                region=config.region,
                maximum_concurrency=config.worker_concurrency,
            ),
        )
        # Lambda's init phase for every function, at `up` rather than in the first request.
        for function in (*self.emulator.functions.values(), self._process):
            await asyncio.to_thread(function.prewarm)
        self.poller.start()
        undo.push_async_callback(self.poller.stop)
        _freeze_startup_objects(undo)

        self.endpoints = LocalEndpoints(
            graphql_url=f"{base_url}/graphql",
            realtime_url=f"ws://{config.host}:{port}/graphql/realtime",
            https_graphql_url=https_url,
            wss_realtime_url=wss_url,
            ca_cert=self.tls.ca_cert if self.tls else None,
            model_url=self._model_description(base_url),
            moto_url=moto_url,
            api_key=config.api_key,
            region=config.region,
            queues=queues,
            table_name=table_name,
            console_url=f"{base_url}/",
            https_console_url=https_console_url,
        )
        return self.endpoints

    # -- pieces --------------------------------------------------------------------------

    def _model_description(self, base_url: str) -> str:
        if self.config.model == "local":
            return base_url
        if self.config.model == "openai" and self.config.openai is not None:
            return f"{base_url} → {self.config.openai.base_url} (OpenAI-compatible)"
        return "bedrock (your AWS account)"

    async def _start_moto(self, undo: contextlib.AsyncExitStack) -> str:
        """Start moto server (child process or thread) and register its stop with ``undo``."""
        if self.config.moto_port:  # the child would only die on a busy port: look first
            bind(self.config.host, self.config.moto_port, "moto").close()
        if self.config.moto_isolation == "process":
            moto = MotoProcess(self.config.host, self.config.moto_port, self.config.region, api_key=self.config.api_key)
            undo.push_async_callback(asyncio.to_thread, moto.stop)  # stop() is safe on a failed start
            return moto.start()
        return self._start_moto_thread(undo)

    def _start_moto_thread(self, undo: contextlib.AsyncExitStack) -> str:
        moto = MotoServer(
            self.config.host, self.config.moto_port, region=self.config.region, api_key=self.config.api_key
        )
        moto.serve_in_thread()
        undo.push_async_callback(asyncio.to_thread, moto.stop)
        return moto.url

    def _auth_config(self) -> AuthConfig:
        credentials = boto3.Session().get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials else None
        iam = (
            {frozen.access_key: frozen.secret_key}
            if frozen and frozen.access_key and frozen.secret_key
            else {"test": "test"}
        )
        return AuthConfig(
            api_keys=frozenset({self.config.api_key}),
            iam_credentials=iam,
            iam_principals={},
            jwt=LocalJwtIssuer.from_env(),
            region=self.config.region,
        )

    def _model_limits(self) -> dict[str, str]:
        if self.config.model == "local":
            # Only the models: the other limits stay what this process's TOKENCAST_* say.
            return Limits(allowed_models=[LOCAL_MODEL_ID], default_model=LOCAL_MODEL_ID).to_env(exclude_unset=True)
        return {}


def _freeze_startup_objects(undo: contextlib.AsyncExitStack) -> None:
    """Keep what start-up built (botocore's service models, the schema, the warm handlers:
    ~330,000 objects) out of the garbage collector's full passes until the stack stops.

    Every full collection walks every tracked object while holding the GIL, so with them a
    pass stalled every stream of the process for 200-280 ms (measured), which was the local
    p99 token delay. Frozen, a pass walks only what streaming allocated since.
    """
    gc.collect()
    gc.freeze()
    undo.callback(gc.unfreeze)


def _restore_environ(saved: dict[str, str]) -> None:
    """Put ``os.environ`` back as it was (what the stack added goes, what it changed returns)."""
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update(saved)


class BackgroundStack:
    """A :class:`LocalStack` on its own thread and event loop, for tests and benchmarks.

    Callers keep their own event loop (pytest-asyncio's, a benchmark's) while the stack lives
    for the whole session. A failed :meth:`start` ends the thread too.
    """

    def __init__(self, config: StackConfig | None = None) -> None:
        self.stack = LocalStack(config)
        self._loop: BackgroundLoop | None = None

    def start(self, timeout_s: float = 60.0) -> LocalEndpoints:
        loop = BackgroundLoop("tokencast-local-stack")
        try:
            endpoints = loop.run(self.stack.start(), timeout_s)
        except BaseException:
            loop.close()
            raise
        self._loop = loop
        return endpoints

    def call(self, fn: Callable[..., Any], *args: Any, timeout_s: float = 30.0) -> Any:
        """Run ``fn(*args)`` on the stack's loop (for its non-thread-safe parts) and return the result."""
        assert self._loop is not None, "start() first"
        return self._loop.call(fn, *args, timeout_s=timeout_s)

    @property
    def loop_thread_ident(self) -> int:
        """The thread the stack's loop (the emulator's, the local model's) runs on."""
        assert self._loop is not None, "start() first"
        return self._loop.thread_ident

    def stop(self, timeout_s: float = 30.0) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run(self.stack.stop(), timeout_s)
        finally:
            loop.close(timeout_s)

    @property
    def endpoints(self) -> LocalEndpoints:
        assert self.stack.endpoints is not None, "start() first"
        return self.stack.endpoints

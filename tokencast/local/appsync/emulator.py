"""The local AppSync API: schema + resolver declaration + auth, served over aiohttp.

``AppSyncEmulator`` owns the pieces (engine, subscription hub, Lambda functions) and adds
its routes to an aiohttp application, so the local stack can serve it on the same port as
the local model. Nothing is global: two emulators can run in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tokencast.local import bounded_json
from tokencast.local.admin import refuse
from tokencast.local.appsync.auth import Authenticator
from tokencast.local.appsync.cors import appsync_http_headers
from tokencast.local.appsync.cost import ExecutionLimits
from tokencast.local.appsync.execution import GraphQLEngine
from tokencast.local.appsync.http import graphql_handler
from tokencast.local.appsync.realtime import (
    CONNECTIONS,
    STATS,
    RealtimeConfig,
    RealtimeConnection,
    RealtimeStats,
    realtime_handler,
)
from tokencast.local.appsync.schema import AppSyncSchema
from tokencast.local.appsync.subscriptions import DeliveryFaults, SubscriptionHub
from tokencast.local.jwt_issuer import JWKS_PATH
from tokencast.local.lambda_runtime import LocalFunction
from tokencast.resolvers import DECLARATION_PATH, SCHEMA_PATH, ResolverMap

MAX_BODY_BYTES = 1024 * 1024


def _fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _latency_ms(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 60_000


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: the fields of POST /_local/appsync/faults and the check each value must pass
_FAULT_FIELDS: dict[str, Callable[[Any], bool]] = {
    "drop_rate": _fraction,
    "reorder_rate": _fraction,
    "match": _text,
    "seed": _integer,
    "mutation_latency_ms": _latency_ms,
}


@dataclass(frozen=True)
class EmulatorConfig:
    schema_path: Path = SCHEMA_PATH
    declaration_path: Path = DECLARATION_PATH
    realtime: RealtimeConfig = field(default_factory=RealtimeConfig)
    limits: ExecutionLimits = field(default_factory=ExecutionLimits)
    max_body_bytes: int = MAX_BODY_BYTES
    function_timeout_s: float = 30.0
    #: invocations at once per resolver function: the deployed ones have no reserved
    #: concurrency (only the account's), so this is generous; 16 queued a burst of 50 starts
    #: (startStream p99 1.24-1.35 s -> 0.85-1.0 s)
    function_concurrency: int = 64
    region: str = "us-east-1"


class AppSyncEmulator:
    def __init__(
        self,
        authenticator: Authenticator,
        config: EmulatorConfig = EmulatorConfig(),
        functions: Mapping[str, LocalFunction] | None = None,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.schema = AppSyncSchema.from_file(config.schema_path)
        self.declaration = ResolverMap.load(config.declaration_path)
        self.functions = (
            dict(functions)
            if functions is not None
            else {
                name: LocalFunction(
                    name,
                    spec.handler,
                    timeout_s=config.function_timeout_s,
                    concurrency=config.function_concurrency,
                    region=config.region,
                )
                for name, spec in self.declaration.functions.items()
            }
        )
        self.engine = GraphQLEngine(
            self.schema,
            self.declaration,
            self.functions,
            default_mode=authenticator.config.default_mode,
            limits=config.limits,
        )
        self.hub = SubscriptionHub(self.engine)
        self.engine.on_mutation = self.hub.publish

    def add_routes(self, app: web.Application) -> None:
        app[CONNECTIONS] = set()
        app[STATS] = RealtimeStats()
        app.middlewares.append(appsync_http_headers)  # CORS and x-amzn-* on /graphql only
        app.router.add_post(
            "/graphql",
            graphql_handler(
                engine=self.engine, authenticator=self.authenticator, max_body_bytes=self.config.max_body_bytes
            ),
        )
        realtime = realtime_handler(
            engine=self.engine, hub=self.hub, authenticator=self.authenticator, config=self.config.realtime
        )
        # AppSync serves real-time on its own host at /graphql; locally the same port serves
        # it at /graphql/realtime and, for clients that swap only the scheme, GET /graphql.
        app.router.add_get("/graphql/realtime", realtime)
        app.router.add_get("/graphql", realtime)
        # The local user pool's public keys, as Cognito publishes them under its issuer URL.
        app.router.add_get(JWKS_PATH, self._jwks)
        app.router.add_post("/_local/appsync/faults", self._set_faults)
        app.router.add_get("/_local/appsync/stats", self._stats)
        app.on_shutdown.append(self._close_connections)
        app.on_cleanup.append(self._close_functions)

    async def _set_faults(self, request: web.Request) -> web.Response:
        """Tests and benchmarks only: drop or reorder deliveries (as AppSync may), add mutation latency.

        Body: ``{"drop_rate", "reorder_rate", "match", "seed", "mutation_latency_ms"}``; ``{}`` resets.
        """
        try:
            body = bounded_json.loads(await request.read())
            if not isinstance(body, dict) or set(body) - set(_FAULT_FIELDS):
                raise ValueError(f"expected an object with some of {', '.join(_FAULT_FIELDS)}")
            for name, value in body.items():
                if value is not None and not _FAULT_FIELDS[name](value):
                    raise ValueError(f"{name}: has the wrong type")
        except ValueError as error:
            return refuse(400, "BadRequestException", str(error))
        self.engine.mutation_latency_s = float(body.pop("mutation_latency_ms", None) or 0) / 1000
        delivery = {k: body[k] for k in ("drop_rate", "reorder_rate", "match", "seed") if body.get(k) is not None}
        self.hub.faults = DeliveryFaults(**delivery) if delivery else None
        return web.json_response({"ok": True})

    async def _stats(self, request: web.Request) -> web.Response:
        faults = self.hub.faults
        return web.json_response(
            {
                "subscriptions": self.hub.count(),
                "connections": len(request.app[CONNECTIONS]),
                "delivered": self.hub.delivered,
                "droppedOversized": self.hub.dropped_oversized,
                "droppedByFaults": faults.dropped if faults else 0,
                "reorderedByFaults": faults.reordered if faults else 0,
                "slowConsumersDisconnected": request.app[STATS].slow_consumers_disconnected,
                "outboxHighWaterBytes": request.app[STATS].outbox_high_water_bytes,
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self.authenticator.config.jwt.jwks())

    async def _close_connections(self, app: web.Application) -> None:
        connections: set[RealtimeConnection] = app[CONNECTIONS]
        for connection in list(connections):
            await connection.close()

    async def _close_functions(self, app: web.Application) -> None:
        for function in self.functions.values():
            await function.drain_and_close()
        self.engine.close()

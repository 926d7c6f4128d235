"""A local stand-in for Amazon Bedrock's Converse and ConverseStream APIs, served by aiohttp.

The processing handler talks to Bedrock with the stock boto3 ``bedrock-runtime`` client. To
run it unchanged on one machine, ``tokencast up`` mounts :class:`LocalBedrock` on the same
aiohttp application as the AppSync emulator and points the SDK at it with
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``. It is not a general Bedrock emulator: it serves only the
two operations the project uses, answers with the deterministic prose of
:mod:`tokencast.local.bedrock.text`, and does not check SigV4 signatures.

What it keeps faithful, because the handler's behaviour depends on it:

* ``POST /model/{modelId}/converse-stream`` answers 200 with a *chunked*
  ``application/vnd.amazon.eventstream`` body and writes one frame per event as it is
  produced (a fixed-length body would make botocore buffer the whole stream). Events are
  Bedrock's: ``messageStart``, ``contentBlockDelta`` per token, ``contentBlockStop``,
  ``messageStop`` and ``metadata``.
* Errors use the rest-json shape botocore maps to modelled exceptions: a status code, an
  ``x-amzn-ErrorType`` header and a ``{"message": ...}`` body; in-stream failures are
  ``:message-type exception`` frames that botocore raises as ``EventStreamError`` while the
  caller iterates.
* Pacing (time to first token, tokens per second), and detection of a client that went
  away, so cancellation can be proven to stop generation.

Tests steer failures with fault rules (:class:`FaultRule`), set at construction, through
the Python API or over HTTP (``/_local/model/faults``); each rule can be limited to prompts
containing a marker so concurrent tests do not consume each other's faults. Prompt text is
never logged nor reported: stats identify a prompt only by :func:`prompt_fingerprint`.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from aiohttp import web

from tokencast.local import DEFAULT_API_KEY
from tokencast.local.admin import guard_admin_routes
from tokencast.local.background import BackgroundLoop
from tokencast.local.bedrock.admin_routes import admin_routes
from tokencast.local.bedrock.config import LocalBedrockConfig
from tokencast.local.bedrock.converse import ConverseHandlers
from tokencast.local.bedrock.errors import HTTP_ERRORS, StreamException
from tokencast.local.bedrock.faults import PRE_STREAM_KINDS, Armed, FaultRule, prompt_fingerprint
from tokencast.local.bedrock.stats import Emits, RequestRecord

__all__ = [
    "HTTP_ERRORS",
    "Emits",
    "FaultRule",
    "LocalBedrock",
    "LocalBedrockConfig",
    "RequestRecord",
    "StreamException",
    "ThreadedServer",
    "prompt_fingerprint",
]

log = logging.getLogger(__name__)


class LocalBedrock:
    """The local model: configuration, fault rules and stats, plus the aiohttp handlers.

    Lifecycle: construct, then :meth:`add_to` an application (or :meth:`build_app`); the
    application's shutdown releases stalled streams (or call :meth:`shutdown`). The Python
    API is thread-safe, so tests may steer a model served by a loop in another thread.
    """

    def __init__(self, config: LocalBedrockConfig | None = None) -> None:
        self._config = config or LocalBedrockConfig()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._rule_ids = itertools.count(1)
        self._rules: list[Armed] = []
        self._counters: dict[str, int] = {}
        self._recent: deque[RequestRecord] = deque()
        self._active = 0
        self._emits: dict[str, Emits] = {}
        self.reset_stats()
        self.set_faults(self._config.faults)

    # ----------------------------------------------------------------- configuration

    @property
    def config(self) -> LocalBedrockConfig:
        return self._config

    def configure(self, **changes: Any) -> LocalBedrockConfig:
        """Change settings (e.g. ``tokens_per_second``) for requests that start from now on.

        ``faults`` in the config are armed at construction only; use the fault API at runtime.
        """
        with self._lock:
            self._config = LocalBedrockConfig(**{**self._config.model_dump(), **changes})
            return self._config

    def serves(self, model_id: str) -> bool:
        return self._config.accept_any_model or model_id in self._config.model_ids

    # ----------------------------------------------------------------- faults

    def add_fault(self, rule: FaultRule | Mapping[str, Any]) -> int:
        """Arm a rule after those already armed; returns its id (for :meth:`remove_fault`)."""
        rule = rule if isinstance(rule, FaultRule) else FaultRule.model_validate(rule)
        with self._lock:
            armed = Armed(next(self._rule_ids), rule, rule.times)
            self._rules.append(armed)
            return armed.id

    def set_faults(self, rules: list[FaultRule] | list[Mapping[str, Any]]) -> list[int]:
        """Replace every armed rule with these."""
        self.clear_faults()
        return [self.add_fault(rule) for rule in rules]

    def remove_fault(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [a for a in self._rules if a.id != rule_id]
            return len(self._rules) != before

    def clear_faults(self) -> None:
        with self._lock:
            self._rules = []

    def faults(self) -> list[dict[str, Any]]:
        """Armed rules with their ids and remaining uses (exhausted rules are dropped)."""
        with self._lock:
            return [{"id": a.id, "remaining": a.remaining, **a.rule.model_dump()} for a in self._rules]

    def take_faults(self, prompt: str) -> dict[str, Armed]:
        """Consume, atomically, the rules that apply to a request whose last user text is ``prompt``."""
        taken: dict[str, Armed] = {}
        with self._lock:
            candidates = [a for a in self._rules if a.rule.match is None or a.rule.match in prompt]
            pre = next((a for a in candidates if a.rule.kind in PRE_STREAM_KINDS), None)
            if pre is not None:
                taken["error"] = pre
            else:
                for a in candidates:
                    taken.setdefault(a.rule.kind, a)
            for a in taken.values():
                if a.remaining is not None:
                    a.remaining -= 1
            self._rules = [a for a in self._rules if a.remaining is None or a.remaining > 0]
            if taken:
                self._counters["faults_injected"] += len(taken)
        return taken

    # ----------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Counters and the most recent request records, JSON-ready.

        ``tokens_after_disconnect`` counts tokens produced once the client had gone away; a
        model that stops promptly on cancel keeps it at 0 or 1 per request.
        """
        with self._lock:
            return {
                **self._counters,
                "active_requests": self._active,
                "recent": [asdict(r) for r in self._recent],
            }

    def emits(self, fingerprint: str) -> Emits | None:
        """The emit times of the latest stream for a prompt (``record_emits`` must be on)."""
        with self._lock:
            return self._emits.get(fingerprint)

    def clear_emits(self) -> None:
        with self._lock:
            self._emits.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(
                (
                    "requests",
                    "rejected",
                    "streams",
                    "completed",
                    "disconnects",
                    "faults_injected",
                    "tokens_generated",
                    "tokens_after_disconnect",
                ),
                0,
            )
            self._recent = deque(r for r in self._recent if r.ended_at is None)

    def record_request(self, operation: str, model_id: str) -> RequestRecord:
        record = RequestRecord(uuid.uuid4().hex, operation, model_id, "", time.time())
        with self._lock:
            self._counters["requests"] += 1
            self._active += 1
            self._recent.append(record)
            while len(self._recent) > self._config.recent_requests:
                self._recent.popleft()
        return record

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def finish(
        self, record: RequestRecord, outcome: str, *, stop_reason: str | None = None, error: str | None = None
    ) -> None:
        """Close a record once; later calls are no-ops. Logs ids and outcome, never text."""
        with self._lock:
            if record.ended_at is not None:
                return
            record.outcome, record.stop_reason, record.error, record.ended_at = outcome, stop_reason, error, time.time()
            self._active -= 1
        log.debug(
            "%s %s model=%s outcome=%s tokens=%d",
            record.operation,
            record.request_id,
            record.model_id,
            outcome,
            record.tokens_sent,
        )

    # ----------------------------------------------------------------- aiohttp wiring

    def routes(self) -> list[web.RouteDef]:
        """The model routes and the ``/_local/model/...`` admin routes."""
        return [*ConverseHandlers(self).routes(), *admin_routes(self)]

    def keep_emits(self, fingerprint: str, emits: Emits) -> None:
        """Keep a stream's emit times under its prompt's fingerprint (``record_emits`` on)."""
        with self._lock:
            self._emits[fingerprint] = emits

    @property
    def closing(self) -> threading.Event:
        """Set by :meth:`shutdown`: streams waiting or stalled end at once."""
        return self._closing

    def add_to(self, app: web.Application) -> None:
        """Mount on an application shared with other local services; its shutdown releases stalls."""
        app.add_routes(self.routes())
        app.on_shutdown.append(self._on_shutdown)

    def build_app(self, api_key: str = DEFAULT_API_KEY, bind_host: str = "127.0.0.1") -> web.Application:
        """An application serving only the local model; ``/_local/*`` needs ``api_key`` (see tokencast.local.admin)."""
        app = web.Application()
        self.add_to(app)
        guard_admin_routes(app, [api_key], bind_host=bind_host)
        return app

    def shutdown(self) -> None:
        """End stalled and in-flight streams promptly (they are aborted, as a dying server would)."""
        self._closing.set()

    async def _on_shutdown(self, app: web.Application) -> None:
        self.shutdown()


class ThreadedServer:
    """Serve a :class:`LocalBedrock` on its own event loop thread (for tests and scripts).

    ``with ThreadedServer(LocalBedrock()) as server: boto3.client(..., endpoint_url=server.url)``.
    The local stack does not need this: it mounts the model on its own application.
    """

    def __init__(
        self, model: LocalBedrock, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_API_KEY
    ) -> None:
        self.model, self._host, self._port = model, host, port
        #: what ``/_local/*`` requests must send in ``x-api-key``
        self.api_key = api_key
        self._loop: BackgroundLoop | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> ThreadedServer:
        self._loop = BackgroundLoop("local-bedrock")
        try:
            self._loop.run(self._start(), timeout_s=10)
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        app = self.model.build_app(self.api_key, bind_host=self._host)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._runner is not None:
                loop.run(self._runner.cleanup(), timeout_s=10)
                self._runner = None
        finally:
            loop.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

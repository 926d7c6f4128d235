"""Calling a running local stack's ``/_local/*`` test endpoints (faults and stats).

The endpoints want the stack's API key in ``x-api-key`` (see :mod:`tokencast.local.admin`);
this client sends it, so tests, benchmarks and ``tokencast faults`` share one way in. It is
synchronous and uses only the standard library, so it works from scripts, the CLI and
(through ``asyncio.to_thread``) async tests alike.

    admin = AdminClient.for_stack(endpoints.graphql_url, endpoints.api_key)
    admin.add_model_faults(FaultRule(kind="throttle", match="#marker"))
    admin.set_appsync_faults(AppSyncFaults(drop_rate=0.5, match=session_id, seed=7))
    admin.appsync_stats()["delivered"]

Errors: :class:`AdminError` (the stack refused: ``status`` and its ``message``, which names the
field and the rule) and :class:`StackUnreachable`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tokencast.local.admin import API_KEY_HEADER
from tokencast.local.bedrock.faults import FaultRule


class StackUnreachable(Exception):
    """Nothing answers at the stack's address (is ``tokencast up`` running?)."""


class AdminError(Exception):
    """A ``/_local`` call answered with an error status (401 without the right key, 400 for bad faults)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AppSyncFaults:
    """The emulator's delivery faults: at-most-once, unordered delivery on demand.

    ``drop_rate``/``reorder_rate`` are chances per delivery (0-1); ``match`` limits them to one
    sessionId; ``seed`` makes them repeatable; ``mutation_latency_ms`` delays every mutation.
    """

    drop_rate: float = 0.0
    reorder_rate: float = 0.0
    match: str | None = None
    seed: int | None = None
    mutation_latency_ms: float = 0.0


class AdminClient:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s

    @classmethod
    def for_stack(cls, graphql_url: str, api_key: str, *, timeout_s: float = 10.0) -> AdminClient:
        """From the stack's GraphQL URL (``http://host:port/graphql``) and its API key."""
        return cls(graphql_url.rsplit("/graphql", 1)[0], api_key, timeout_s=timeout_s)

    # -- the local model -------------------------------------------------------------------

    def add_model_faults(self, *rules: FaultRule | Mapping[str, Any], replace: bool = False) -> list[int]:
        """Arm fault rules on the local model; returns their ids. ``replace`` drops the others first."""
        body = {"rules": [_rule(r) for r in rules], "replace": replace}
        return list(self._call("POST", "/_local/model/faults", body)["ids"])

    def model_faults(self) -> list[dict[str, Any]]:
        """The armed rules, each with its ``id`` and ``remaining`` uses."""
        return list(self._call("GET", "/_local/model/faults")["rules"])

    def clear_model_faults(self) -> None:
        self._call("DELETE", "/_local/model/faults")

    def model_stats(self) -> dict[str, Any]:
        """Request counts and recent request records (fingerprints, never prompts)."""
        return dict(self._call("GET", "/_local/model/stats"))

    def reset_model_stats(self) -> None:
        self._call("DELETE", "/_local/model/stats")

    # -- the AppSync emulator --------------------------------------------------------------

    def set_appsync_faults(self, faults: AppSyncFaults | None = None) -> None:
        """Set the emulator's delivery faults; ``None`` resets them."""
        body = {k: v for k, v in asdict(faults).items() if v is not None} if faults else {}
        self._call("POST", "/_local/appsync/faults", body)

    def appsync_stats(self) -> dict[str, Any]:
        """Subscriptions, connections, deliveries, drops and slow-consumer disconnects."""
        return dict(self._call("GET", "/_local/appsync/stats"))

    # -- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header(API_KEY_HEADER, self._api_key)
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AdminError(error.code, _message(error.read())) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            raise StackUnreachable(f"cannot reach the local stack at {self.base_url}: {error}") from None


def _rule(rule: FaultRule | Mapping[str, Any]) -> dict[str, Any]:
    return rule.model_dump(mode="json") if isinstance(rule, FaultRule) else dict(rule)


def _message(body: bytes) -> str:
    """The ``message`` of a ``/_local`` error answer (``{"errorType", "message"}``)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:200]
    return str(answer.get("message", answer)) if isinstance(answer, dict) else str(answer)

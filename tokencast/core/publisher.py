"""Publishing events to AppSync: the signed ``publishToken`` transport and its retries.

:class:`AppSyncPublisher` posts the mutation over one keep-alive HTTPS session, SigV4-signed
for service ``appsync`` with refreshable credentials (the Lambda role's rotate). The mutation
selects every TokenEvent field because AppSync hands subscribers only what the mutation
selected.

:func:`publish_retried` is the one quick-retry loop for a single publish (the coalescer's,
and the worker's for CANCELLED/FAILED events); :mod:`tokencast.core.coalescer` decides what
to publish and when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import boto3
import requests
from requests_aws4auth import AWS4Auth
from tenacity import Retrying, stop_after_attempt, wait_incrementing

from tokencast.core.errors import PublishFailed
from tokencast.core.models import EVENT_FIELDS, EVENT_SELECTION

#: Selects every TokenEvent field (:data:`EVENT_SELECTION`): subscribers receive only what the
#: mutation selected, and the subscription filter reads ``owner`` and ``visibility``.
PUBLISH_MUTATION = f"""
mutation PublishToken($sessionId: ID!, $attempt: Int!, $seq: Int!, $type: EventType!, $token: String!,
  $isComplete: Boolean!, $stopReason: String, $usage: UsageInput, $error: String, $timestamp: AWSDateTime,
  $owner: String, $visibility: Visibility) {{
  publishToken(sessionId: $sessionId, attempt: $attempt, seq: $seq, type: $type, token: $token,
    isComplete: $isComplete, stopReason: $stopReason, usage: $usage, error: $error, timestamp: $timestamp,
    owner: $owner, visibility: $visibility) {{ {EVENT_SELECTION} }}
}}
""".strip()


class PublishTransport(Protocol):
    """Sends one stored event to subscribers; raises on any failure."""

    def publish(self, event: Mapping[str, Any]) -> None: ...


class PublishError(Exception):
    """AppSync did not accept a publish (HTTP error, GraphQL error, no answer)."""


class AppSyncPublisher:
    """``publishToken`` over HTTPS with SigV4 (IAM auth), reusing one connection."""

    def __init__(
        self,
        url: str,
        region: str,
        *,
        credentials: Any = None,
        timeout_s: float = 5.0,
        session: requests.Session | None = None,
    ):
        credentials = credentials if credentials is not None else boto3.Session().get_credentials()
        if credentials is None:
            raise PublishError("no AWS credentials to sign publishToken with")
        self._url = url
        self._timeout = timeout_s
        self._auth = AWS4Auth(refreshable_credentials=credentials, region=region, service="appsync")
        self._http = session or requests.Session()
        self._http.headers.update({"Content-Type": "application/json"})
        self._sign_lock = threading.Lock()  # AWS4Auth refreshes credentials in place

    def publish(self, event: Mapping[str, Any]) -> None:
        variables = {name: event.get(name) for name in EVENT_FIELDS}
        request = requests.Request(
            "POST", self._url, json={"query": PUBLISH_MUTATION, "variables": variables}, auth=self._auth
        )
        try:
            with self._sign_lock:
                prepared = self._http.prepare_request(request)
            response = self._http.send(prepared, timeout=self._timeout)
            body = response.content  # read it all: the connection goes back to the pool
        except requests.RequestException as exc:
            raise PublishError(f"publishToken: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PublishError(f"publishToken: HTTP {response.status_code}")
        try:
            errors = (response.json() if body else {}).get("errors")
        except ValueError:
            raise PublishError("publishToken: response is not JSON") from None
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            kind = first.get("errorType") or "GraphQLError"
            raise PublishError(f"publishToken: {kind}: {str(first.get('message', ''))[:200]}")

    def warm(self) -> None:
        """Open the keep-alive connection (TCP, TLS) now, so the first publish does not pay for it.

        Best effort, and no request is sent: an unreachable endpoint shows up on the first publish.
        """
        prepared = requests.Request("POST", self._url).prepare()
        adapter = self._http.get_adapter(self._url)
        try:
            pool = adapter.get_connection_with_tls_context(prepared, verify=self._http.verify)  # type: ignore[attr-defined]
            connection = pool._get_conn()
            connection.connect()
            pool._put_conn(connection)
        except Exception:
            return

    def close(self) -> None:
        self._http.close()


def publish_retried(
    transport: PublishTransport,
    event: Mapping[str, Any],
    *,
    retries: int = 2,
    delay_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[], None] | None = None,
) -> None:
    """Publish one event, retrying any failure ``retries`` times after ``delay_s``, 2 × ``delay_s``, …

    Quick and few on purpose: a publish that keeps failing ends the attempt (the worker
    retries the whole attempt with its own backoff). Raises :class:`PublishFailed` naming the
    last error. ``sleep`` is injectable so tests wait for nothing; ``on_retry`` runs before
    each retry (the coalescer counts them).
    """
    retrying = Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_incrementing(start=delay_s, increment=delay_s),
        sleep=sleep,
        before_sleep=(lambda _state: on_retry()) if on_retry is not None else None,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                transport.publish(event)
    except Exception as exc:
        raise PublishFailed(f"publishing to AppSync failed {retries + 1} times ({exc})") from exc


def publish_with_retries(
    transport: PublishTransport,
    event: Mapping[str, Any],
    *,
    retries: int = 2,
    delay_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Publish outside a coalescer (the CANCELLED/FAILED events); False if it never went out.

    Those events are already stored, so a subscriber that missed one still finds it in
    ``getEvents``; failing to publish them must not stop the job from settling.
    """
    try:
        publish_retried(transport, event, retries=retries, delay_s=delay_s, sleep=sleep)
    except PublishFailed:
        return False
    return True

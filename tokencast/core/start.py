"""``startStream``: validate, take a quota slot, store the session, enqueue the job -- or
leave nothing behind.

Order matters. Validation comes first, so bad input stores and enqueues nothing. A
client-chosen ``sessionId`` makes the call idempotent (same owner, same request: the existing
session, no second job, no quota charged) and cannot be hijacked (other owner:
:data:`SESSION_ID_UNAVAILABLE`, a ``Conflict`` error that names neither the owner nor the session's
state, so it tells a prober no more than that the id is not theirs to use) nor silently reused
(same owner, different request: :data:`SESSION_ID_REUSED`, judged by the fingerprint the
session keeps of the request that created it). The owner's quotas are then taken atomically
(:mod:`tokencast.core.quotas`): over quota, nothing is stored or queued. The session is created
with a conditional put, and only then is the job sent; if that fails the session is deleted
and the slot given back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tokencast.access import principal_of
from tokencast.config import Limits
from tokencast.core.clock import Clock, iso, utc_now
from tokencast.core.errors import EnqueueFailed, InvalidInput, SessionIdConflict
from tokencast.core.jobs import Job
from tokencast.core.quotas import QuotaLedger
from tokencast.core.records import SessionRecord
from tokencast.core.start_request import StartRequest, parse_start
from tokencast.core.store import SessionStore

logger = logging.getLogger(__name__)

#: SQS's classic message size limit; larger conversations are refused up front.
MAX_JOB_BYTES = 256 * 1024
SESSION_ID_UNAVAILABLE = "input.sessionId: cannot be used for a new session; choose another UUID"


def request_fingerprint(request: StartRequest) -> str:
    """A SHA-256 of what was asked (conversation, system, model, limits, visibility), without
    the session id: equal for a retry of the same call, different for any other request.

    Only this hash is stored and compared, so the prompt never needs to be kept or logged to
    tell the two apart.
    """
    canonical = {
        "messages": [[m.role, m.text] for m in request.messages],
        "system": request.system,
        "modelId": request.model_id,
        "maxTokens": request.max_tokens,
        "temperature": request.temperature,
        "visibility": request.visibility.value,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


#: the ``Conflict`` a client gets for a sessionId it already used with another request
SESSION_ID_REUSED = "input.sessionId: already used by a different request"


def refuse_a_different_request(record: SessionRecord, fingerprint: str) -> None:
    """A repeated ``sessionId`` rejoins its session only for the same request; anything else
    would silently answer the first request's question. Sessions stored before fingerprints
    existed (none kept) are let through, as before."""
    if record.request_fingerprint is not None and record.request_fingerprint != fingerprint:
        raise SessionIdConflict(SESSION_ID_REUSED)


class StartService:
    def __init__(
        self,
        *,
        store: SessionStore,
        sqs: Any,
        jobs_queue_url: str,
        limits: Limits,
        quotas: QuotaLedger | None = None,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self._store = store
        self._sqs = sqs
        self._queue_url = jobs_queue_url
        self._limits = limits
        self._quotas = quotas
        self._clock = clock
        self._new_id = new_id

    def start(self, arguments: Mapping[str, Any] | None, identity: Mapping[str, Any] | None) -> dict[str, Any]:
        """Returns the GraphQL ``Session`` (QUEUED for a new one)."""
        request = parse_start(arguments, self._limits)
        owner = principal_of(identity)
        session_id = request.session_id or self._new_id()
        job = Job(
            session_id=session_id,
            owner=owner,
            model_id=request.model_id,
            messages=request.messages,
            system=request.system,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            visibility=request.visibility,
            enqueued_at=iso(self._clock()),
        )
        body = job.to_body()
        if len(body.encode()) > MAX_JOB_BYTES:
            raise InvalidInput(f"input.messages: the conversation must be at most {MAX_JOB_BYTES} bytes in total")

        fingerprint = request_fingerprint(request)
        charging = self._quotas is not None and self._quotas.enabled
        # A repeated start must not be charged to the owner's quotas, so with quotas on the id is
        # looked up first; without them the conditional put below finds a repeat by itself.
        if charging and request.session_id and (existing := self._store.get(session_id)) is not None:
            return self._repeat(existing, owner, fingerprint)
        if self._quotas is not None:
            self._quotas.acquire(owner, session_id)
        record, created = self._store.create(
            session_id=session_id,
            owner=owner,
            visibility=request.visibility.value,
            model_id=request.model_id,
            request_fingerprint=fingerprint,
        )
        if not created:  # a concurrent start with the same id won the put
            if record.owner != owner and self._quotas is not None:
                self._quotas.release(owner, session_id)
            return self._repeat(record, owner, fingerprint)
        try:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
        except Exception as exc:
            try:
                self._store.delete_queued(session_id)
                if self._quotas is not None:
                    self._quotas.release(owner, session_id)
            except Exception:  # the send's failure is the one to report; TTL removes the rest
                logger.exception("could not remove the session of an unqueued job", extra={"sessionId": session_id})
            raise EnqueueFailed("startStream: the job could not be queued; nothing was stored, try again") from exc
        return record.to_graphql()

    @staticmethod
    def _repeat(record: SessionRecord, owner: str, fingerprint: str) -> dict[str, Any]:
        """A start naming an existing session: its owner gets it back for the same request;
        a different request or anyone else gets a ``Conflict``."""
        if record.owner != owner:
            raise SessionIdConflict(SESSION_ID_UNAVAILABLE)
        refuse_a_different_request(record, fingerprint)
        return record.to_graphql()

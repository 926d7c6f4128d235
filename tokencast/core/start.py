"""``startStream``: validate, store the session, enqueue the job -- or leave nothing behind.

Order matters. Validation comes first, so bad input stores and enqueues nothing. The session
is created with a conditional put, so a client-chosen ``sessionId`` makes the call idempotent
(same owner: the existing session, no second job) and cannot be hijacked (other owner:
:data:`SESSION_ID_UNAVAILABLE`, a Conflict that names neither the owner nor the session's
state, so it tells a prober no more than that the id is not theirs to use). Only then is the job sent; if that fails the session is deleted again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tokencast.access import principal_of
from tokencast.config import Limits
from tokencast.core.clock import Clock, iso, utc_now
from tokencast.core.errors import Conflict, EnqueueFailed, InvalidInput
from tokencast.core.jobs import Job
from tokencast.core.requests import parse_start
from tokencast.core.store import SessionStore

logger = logging.getLogger(__name__)

#: SQS's classic message size limit; larger conversations are refused up front.
MAX_JOB_BYTES = 256 * 1024
SESSION_ID_UNAVAILABLE = "input.sessionId: cannot be used for a new session; choose another UUID"


class StartService:
    def __init__(
        self,
        *,
        store: SessionStore,
        sqs: Any,
        jobs_queue_url: str,
        limits: Limits,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self._store = store
        self._sqs = sqs
        self._queue_url = jobs_queue_url
        self._limits = limits
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

        record, created = self._store.create(
            session_id=session_id, owner=owner, visibility=request.visibility.value, model_id=request.model_id
        )
        if not created:
            if record.owner != owner:
                raise Conflict(SESSION_ID_UNAVAILABLE)
            return record.to_graphql()
        try:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
        except Exception as exc:
            try:
                self._store.delete_queued(session_id)
            except Exception:  # the send's failure is the one to report; TTL removes the rest
                logger.exception("could not remove the session of an unqueued job", extra={"sessionId": session_id})
            raise EnqueueFailed("startStream: the job could not be queued; nothing was stored, try again") from exc
        return record.to_graphql()

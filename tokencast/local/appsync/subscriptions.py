"""Subscription registry and fan-out: which mutation results reach which subscribers.

A mutation named in ``@aws_subscribe`` hands its result (keyed by field name, holding only
the fields the mutation selected) to :meth:`SubscriptionHub.publish`. Each subscription on a
triggered field receives it when its arguments and its resolver's enhanced filter match,
rendered through the subscriber's own selection set.

AppSync promises at-most-once delivery in no particular order. ``DeliveryFaults`` makes the
emulator behave that way on demand (drop, reorder) so clients are tested against it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tokencast.appsync_limits import MAX_SUBSCRIPTION_PAYLOAD_BYTES
from tokencast.local.appsync.cost import is_heavy
from tokencast.local.appsync.filters import matches_arguments, matches_filter

if TYPE_CHECKING:
    from tokencast.local.appsync.execution import GraphQLEngine, Operation

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    def deliver(self, message: dict[str, Any]) -> None: ...


@dataclass(eq=False)
class Subscription:
    id: str
    field_name: str
    arguments: dict[str, Any]
    filter: dict[str, Any] | None
    operation: Operation
    subscriber: Subscriber


@dataclass
class DeliveryFaults:
    """Make delivery as unreliable as AppSync is allowed to be (tests only).

    ``drop_rate``: chance a message to one subscriber is lost. ``reorder_rate``: chance a
    message is held back and delivered after the next one to the same subscriber.
    ``match``: only messages whose payload has this sessionId are affected.
    """

    drop_rate: float = 0.0
    reorder_rate: float = 0.0
    match: str | None = None
    seed: int | None = None
    dropped: int = 0
    reordered: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)
    _held: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._random.seed(self.seed)

    def applies(self, payload: dict[str, Any]) -> bool:
        return (self.drop_rate or self.reorder_rate) > 0 and (
            self.match is None or payload.get("sessionId") == self.match
        )

    def route(self, subscription: Subscription, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages to send now, in order, for one would-be delivery."""
        if self._random.random() < self.drop_rate:
            self.dropped += 1
            return []
        key = id(subscription)
        held = self._held.pop(key, None)
        if held is None and self._random.random() < self.reorder_rate:
            self._held[key] = message
            self.reordered += 1
            return []
        return [message, held] if held is not None else [message]

    def release(self, subscription: Subscription) -> list[dict[str, Any]]:
        held = self._held.pop(id(subscription), None)
        return [held] if held is not None else []


class SubscriptionHub:
    """All live subscriptions of the API, across connections."""

    def __init__(self, engine: GraphQLEngine) -> None:
        self.engine = engine
        self._by_field: dict[str, list[Subscription]] = {}
        self.faults: DeliveryFaults | None = None
        self.dropped_oversized = 0
        self.delivered = 0
        # Thread-safe so tests and tools on other threads can wait for a subscription to be
        # live (registered before start_ack is sent) instead of sleeping.
        self._changed = threading.Condition()

    def add(self, subscription: Subscription) -> None:
        with self._changed:
            self._by_field.setdefault(subscription.field_name, []).append(subscription)
            self._changed.notify_all()

    def remove(self, subscription: Subscription) -> None:
        with self._changed:
            subscriptions = self._by_field.get(subscription.field_name, [])
            if subscription in subscriptions:
                subscriptions.remove(subscription)
            self._changed.notify_all()
        if self.faults:
            for message in self.faults.release(subscription):
                subscription.subscriber.deliver(message)

    def count(self, where: Callable[[Subscription], bool] | None = None) -> int:
        return sum(1 for subs in self._by_field.values() for sub in subs if where is None or where(sub))

    def wait_until(self, predicate: Callable[[SubscriptionHub], bool], timeout: float) -> bool:
        """Block (on any thread) until ``predicate(hub)`` holds after an add/remove, or time out."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    async def publish(self, mutation_field: str, payload: dict[str, Any]) -> None:
        """Render the payload for each matching subscription, then deliver in order on this loop.

        Rendering moves to a worker thread when the selections are large (thousands of aliased
        fields), so one subscriber's selection cannot hold up everyone else's deliveries."""
        targets = [
            subscription
            for field_name in self.engine.schema.triggers.get(mutation_field, ())
            for subscription in list(self._by_field.get(field_name, ()))
            if matches_arguments(subscription.arguments, payload) and matches_filter(subscription.filter, payload)
        ]
        if not targets:
            return
        if is_heavy(sum(subscription.operation.document_bytes for subscription in targets)):
            rendered = await self.engine.off_loop(self._render_all, targets, payload)
        else:
            rendered = self._render_all(targets, payload)
        for subscription, message, size in rendered:
            if subscription in self._by_field.get(subscription.field_name, ()):  # not stopped meanwhile
                self._send(subscription, payload, message, size)

    def _render_all(
        self, targets: list[Subscription], payload: dict[str, Any]
    ) -> list[tuple[Subscription, dict[str, Any], int]]:
        # Subscribers with the same operation and variables see the same rendering: render
        # (a GraphQL execution) and measure it once per publish, not once per subscriber.
        once: dict[Any, tuple[dict[str, Any], int]] = {}
        out = []
        for subscription in targets:
            key = _rendering_key(subscription)
            if key not in once:
                rendered = self.engine.render(subscription.operation, subscription.field_name, payload)
                once[key] = (rendered, len(json.dumps(rendered, separators=(",", ":")).encode()))
            rendered, size = once[key]
            out.append((subscription, {"id": subscription.id, "type": "data", "payload": rendered}, size))
        return out

    def _send(self, subscription: Subscription, payload: dict[str, Any], message: dict[str, Any], size: int) -> None:
        if size > MAX_SUBSCRIPTION_PAYLOAD_BYTES:
            # AppSync drops these silently; we say so, without the payload itself.
            self.dropped_oversized += 1
            log.warning(
                "dropped a %d-byte payload for subscription %s (limit %d)",
                size,
                subscription.id,
                MAX_SUBSCRIPTION_PAYLOAD_BYTES,
            )
            return
        messages = (
            self.faults.route(subscription, message) if self.faults and self.faults.applies(payload) else [message]
        )
        for item in messages:
            self.delivered += 1
            subscription.subscriber.deliver(item)


def _rendering_key(subscription: Subscription) -> Any:
    """Equal for subscriptions whose rendering of any payload is equal: same text, field, variables."""
    operation = subscription.operation
    if operation.document.loc is None:
        return id(operation)
    variables = json.dumps(operation.raw_variables, sort_keys=True, default=str)
    return (operation.document.loc.source.body, subscription.field_name, variables)

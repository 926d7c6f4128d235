"""Who may see and cancel a session: one rule, used by the handlers and the emulator.

The cloud enforces the subscription half of this rule with an enhanced subscription filter
(graphql/resolvers/onTokenReceived.js); tests/infra run that code under Node and prove it
agrees with :func:`can_read` for owners, other users and API-key callers.

Principals: a Cognito/JWT caller is its ``sub``; an IAM caller its ``userArn``; an API-key
caller (no identity, dev only) is :data:`ANONYMOUS`, so API-key sessions are visible to
API-key callers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokencast.events import Visibility

ANONYMOUS = "anonymous"


def principal_of(identity: Mapping[str, Any] | None) -> str:
    """The owner string for an AppSync ``identity`` (None for API key)."""
    if not identity:
        return ANONYMOUS
    return identity.get("sub") or identity.get("userArn") or identity.get("username") or ANONYMOUS


def is_signed_in(identity: Mapping[str, Any] | None) -> bool:
    return principal_of(identity) != ANONYMOUS


def can_read(owner: str | None, visibility: str | None, identity: Mapping[str, Any] | None) -> bool:
    """Owner always; anyone signed in when the session is SHARED."""
    if principal_of(identity) == (owner or ANONYMOUS):
        return True
    return visibility == Visibility.SHARED and is_signed_in(identity)


def can_cancel(owner: str | None, identity: Mapping[str, Any] | None) -> bool:
    """Only the owner cancels, whatever the visibility."""
    return principal_of(identity) == (owner or ANONYMOUS)

"""Who may see and cancel a session: one rule, used by the handlers and the emulator.

The cloud enforces the subscription half of this rule with an enhanced subscription filter
(graphql/resolvers/onTokenReceived.js); tests/infra run that code under Node and prove it
agrees with :func:`can_read` for owners, other users and API-key callers.

Principals (who owns a session), chosen per kind of caller:

- Cognito user pool (JWT): the user's ``sub`` -- stable for the user's lifetime.
- IAM through a Cognito *identity pool*: the caller's ``cognitoIdentityId``. Every user of the
  pool assumes the same role, so the role would make them one owner (reading each other's
  private sessions); the identity id is per user.
- IAM with an assumed role (``arn:aws:sts::<account>:assumed-role/<role>/<session>``): the role,
  ``arn:aws:sts::<account>:assumed-role/<role>``, without the session name. A session name is
  chosen per sign-in (SSO, CI runs), so keeping it would lose a caller's sessions on every new
  sign-in; everyone who may assume the role is one owner, which is what the role means.
- IAM user: its ``userArn``.
- API key (no identity, dev only): :data:`ANONYMOUS`, so API-key sessions are visible to API-key
  callers only.
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
    if identity.get("sub"):
        return str(identity["sub"])
    if identity.get("cognitoIdentityId"):
        return str(identity["cognitoIdentityId"])
    if identity.get("userArn"):
        return role_of(str(identity["userArn"]))
    return identity.get("username") or ANONYMOUS


def role_of(arn: str) -> str:
    """``arn:aws:sts::1:assumed-role/ops/carol`` → ``arn:aws:sts::1:assumed-role/ops``; others unchanged."""
    parts = arn.split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        path = parts[5].split("/")
        if len(path) >= 3:
            return ":".join(parts[:5]) + ":assumed-role/" + path[1]
    return arn


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

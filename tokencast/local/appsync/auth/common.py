"""What every auth mode shares: the modes, the :class:`Caller`, the refusals, header access."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class AuthMode(StrEnum):
    """AppSync's authorization types, spelled as in its API and CloudFormation."""

    API_KEY = "API_KEY"
    AWS_IAM = "AWS_IAM"
    AMAZON_COGNITO_USER_POOLS = "AMAZON_COGNITO_USER_POOLS"


#: Schema directive name (without ``@``) → the mode it allows.
DIRECTIVE_MODES: Mapping[str, AuthMode] = MappingProxyType(
    {
        "aws_api_key": AuthMode.API_KEY,
        "aws_iam": AuthMode.AWS_IAM,
        "aws_cognito_user_pools": AuthMode.AMAZON_COGNITO_USER_POOLS,
    }
)


def modes_from_directives(names: Iterable[str]) -> frozenset[AuthMode]:
    """The modes named by a field's (or type's) directives; other directives are ignored.

    Accepts names with or without ``@``. AppSync's rule, for the caller to apply: a
    field's auth directives replace its type's; with none on either, the API's default
    mode applies (pass an empty set to :meth:`Authenticator.authorize_field`).
    """
    return frozenset(DIRECTIVE_MODES[n.lstrip("@")] for n in names if n.lstrip("@") in DIRECTIVE_MODES)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Caller:
    """Who made a request: the mode that authenticated it and AppSync's ``ctx.identity``."""

    mode: AuthMode
    identity: dict[str, Any] | None


class AuthRejected(Exception):
    """A refused request, carrying what AppSync would answer.

    ``error_type`` is AppSync's ``errorType``; ``status`` the HTTP status of the response
    (401/403 for authentication failures, which answer the whole request; 200 for a
    field-level ``Unauthorized``, which is one GraphQL error among possible data).
    The table of cases and their sources is in :mod:`.authenticator`'s docstring.
    """

    def __init__(self, error_type: str, message: str, status: int) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status

    def to_error(self) -> dict[str, Any]:
        """The entry for an AppSync ``errors`` list: ``{"errorType", "message"}``."""
        return {"errorType": self.error_type, "message": self.message}

    def __repr__(self) -> str:
        return f"AuthRejected({self.error_type!r}, {self.message!r}, status={self.status})"


# The 401s and 403s AppSync answers with. Functions, so every raise gets a fresh exception.
def no_valid_header() -> AuthRejected:
    return AuthRejected("UnauthorizedException", "Valid authorization header not provided.", 401)


def bad_api_key() -> AuthRejected:
    return AuthRejected("UnauthorizedException", "You are not authorized to make this call.", 401)


def incomplete(message: str) -> AuthRejected:
    return AuthRejected("IncompleteSignatureException", message, 403)


def invalid_signature(message: str) -> AuthRejected:
    return AuthRejected("InvalidSignatureException", message, 403)


def signature_mismatch() -> AuthRejected:
    return invalid_signature(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


def normalize_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Lower-cased name → every value, in order (multi-dicts yield repeated names)."""
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        out.setdefault(name.strip().lower(), []).append(value)
    return out


def first_header(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

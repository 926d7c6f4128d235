"""A local stand-in for a Cognito user pool: mints and verifies Cognito-like ID tokens.

The cloud API's default auth mode is Cognito user pools. Locally there is no Cognito, so
``tokencast token --user NAME`` mints a JWT here and the AppSync emulator verifies it with
the same object (:class:`tokencast.local.appsync.auth.Authenticator`). The claims mirror a
Cognito **ID token** (``sub``, ``cognito:username``, ``cognito:groups``, ``iss``, ``aud``,
``token_use``, ``auth_time``, ``iat``, ``exp``, ``jti``, optional ``email``), so resolvers
and the owner rule in :mod:`tokencast.access` see the same ``ctx.identity`` shape as in the
cloud.

Why HS256 written by hand: the project adds no JWT dependency (no PyJWT). HS256 is
HMAC-SHA256 over ``base64url(header) + "." + base64url(payload)``, which the standard
library does in a few lines (``hmac``, ``hashlib``, ``base64``, ``json``). Cognito itself
signs with RS256 and a published JWKS; a symmetric key is enough here because the same
process mints and verifies, and it keeps the local stack free of key files.

Security: this is **dev-only**. The default secret (:data:`DEV_SECRET`) is public, written
in this file, so anyone can mint tokens for any user against a stack that uses it. Set
``TOKENCAST_LOCAL_JWT_SECRET`` to something private if the stack is reachable by others.
Tokens and secrets are never logged or put in exception messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "DEV_SECRET",
    "SECRET_ENV",
    "InvalidTokenError",
    "JwtError",
    "LocalJwtIssuer",
    "MalformedTokenError",
    "TokenExpiredError",
]

#: The environment variable :meth:`LocalJwtIssuer.from_env` reads the HMAC secret from.
SECRET_ENV = "TOKENCAST_LOCAL_JWT_SECRET"
#: The fixed, public, dev-only secret used when :data:`SECRET_ENV` is unset. Never use in the cloud.
DEV_SECRET = "tokencast-local-dev-secret"
#: Shaped like a Cognito issuer (``https://cognito-idp.<region>.amazonaws.com/<pool id>``).
DEFAULT_ISSUER = "https://cognito-idp.local/tokencast-local"
#: Plays the Cognito app client id (the ID token's ``aud``, the access token's ``client_id``).
DEFAULT_AUDIENCE = "tokencast-local-client"

_ALG = "HS256"
_KID = "tokencast-local-hs256"


class JwtError(Exception):
    """A token was refused. Messages say why without echoing the token."""


class MalformedTokenError(JwtError):
    """Not three base64url parts of JSON, or not an HS256 JWT: AppSync's "Unable to parse JWT token."."""


class InvalidTokenError(JwtError):
    """Well formed, but the signature, issuer, audience or another claim is wrong."""


class TokenExpiredError(JwtError):
    """The ``exp`` claim is in the past: AppSync's "Token has expired."."""


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(part: str) -> bytes:
    # JWTs drop base64 padding; put it back. Reject characters outside the url-safe alphabet
    # rather than let b64decode skip them silently.
    if not part or any(c not in _B64URL_ALPHABET for c in part):
        raise MalformedTokenError("token part is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedTokenError("token part is not base64url") from exc


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(part))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedTokenError(f"token {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise MalformedTokenError(f"token {what} is not a JSON object")
    return value


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("use timezone-aware datetimes")
    return int(moment.timestamp())


class LocalJwtIssuer:
    """Mints and verifies HS256 JWTs shaped like Cognito ID tokens.

    ``client_id`` is accepted as an alias of ``audience`` (Cognito calls the app client id
    both). Verification accepts an ID token whose ``aud`` is the audience, or an access
    token (``token_use == "access"``) whose ``client_id`` is, like AppSync does.
    """

    def __init__(
        self,
        secret: bytes,
        issuer: str = DEFAULT_ISSUER,
        audience: str | None = None,
        *,
        client_id: str | None = None,
    ) -> None:
        if isinstance(secret, str):  # tolerate str: from env or config files
            secret = secret.encode("utf-8")
        if not secret:
            raise ValueError("the JWT secret must not be empty")
        if audience is not None and client_id is not None and audience != client_id:
            raise ValueError("audience and client_id name the same thing; give one")
        self._secret = bytes(secret)
        self.issuer = issuer
        self.audience = audience or client_id or DEFAULT_AUDIENCE

    def __repr__(self) -> str:  # never show the secret
        return f"LocalJwtIssuer(issuer={self.issuer!r}, audience={self.audience!r})"

    @property
    def client_id(self) -> str:
        return self.audience

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalJwtIssuer:
        """The issuer the local stack uses: secret from ``TOKENCAST_LOCAL_JWT_SECRET``.

        Without the variable it falls back to :data:`DEV_SECRET`, a fixed public secret so
        that ``tokencast token`` and a separately started ``tokencast up`` agree with no
        setup. That is fine for a laptop and wrong anywhere shared.
        """
        environ = os.environ if environ is None else environ
        return cls((environ.get(SECRET_ENV) or DEV_SECRET).encode("utf-8"))

    def subject_for(self, username: str) -> str:
        """The stable ``sub`` of a user: uuid5 of issuer and username.

        Stable so that sessions a user owns (owner == sub) survive restarts and re-minting;
        scoped by issuer so two local "pools" never share subjects.
        """
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}#{username}"))

    def mint(
        self,
        username: str,
        *,
        groups: Iterable[str] = (),
        ttl: timedelta = timedelta(hours=12),
        extra_claims: Mapping[str, Any] | None = None,
        email: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """A signed ID token for ``username``.

        ``cognito:groups`` is present only when groups are given, as in Cognito.
        ``extra_claims`` are merged last (they may override standard claims; this is a dev
        tool, and tests need to mint odd tokens). ``now`` defaults to the current time.
        """
        if not username:
            raise ValueError("username must not be empty")
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        issued = now or _utcnow()
        iat = _epoch(issued)
        claims: dict[str, Any] = {
            "sub": self.subject_for(username),
            "cognito:username": username,
            "iss": self.issuer,
            "aud": self.audience,
            "token_use": "id",
            "auth_time": iat,
            "iat": iat,
            "exp": iat + int(ttl.total_seconds()),
            "jti": str(uuid.uuid4()),
        }
        group_list = list(groups)
        if group_list:
            claims["cognito:groups"] = group_list
        if email is not None:
            claims["email"] = email
            claims["email_verified"] = True
        if extra_claims:
            claims.update(extra_claims)
        header = {"alg": _ALG, "typ": "JWT", "kid": _KID}
        signing_input = (
            _b64url_encode(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        )
        return signing_input + "." + _b64url_encode(self._sign(signing_input))

    def verify(self, token: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The claims of a token this issuer signed, or a :class:`JwtError` subclass.

        Checks, in order: shape (three base64url JSON parts), ``alg == "HS256"`` (so
        ``none`` or RS/HS confusion is impossible), the signature in constant time, then
        ``exp`` (no leeway, like AppSync), ``nbf`` if present, ``iss`` and the audience.
        The signature is checked before any claim is trusted.
        """
        if not isinstance(token, str):
            raise MalformedTokenError("token is not a string")
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedTokenError("token does not have three parts")
        header = _json_part(parts[0], "header")
        if header.get("alg") != _ALG:
            raise MalformedTokenError("token is not signed with HS256")
        signature = _b64url_decode(parts[2])
        expected = self._sign(parts[0] + "." + parts[1])
        if not hmac.compare_digest(signature, expected):
            raise InvalidTokenError("token signature does not verify")
        claims = _json_part(parts[1], "payload")

        current = _epoch(now or _utcnow())
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise InvalidTokenError("token has no numeric exp claim")
        if current >= exp:
            raise TokenExpiredError("token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and not isinstance(nbf, bool) and current < nbf:
            raise InvalidTokenError("token is not valid yet")
        if claims.get("iss") != self.issuer:
            raise InvalidTokenError("token issuer is not this pool")
        token_use = claims.get("token_use")
        if token_use == "access":
            audience_ok = claims.get("client_id") == self.audience
        elif token_use == "id":
            aud = claims.get("aud")
            audience_ok = aud == self.audience or (isinstance(aud, list) and self.audience in aud)
        else:
            raise InvalidTokenError("token_use must be id or access")
        if not audience_ok:
            raise InvalidTokenError("token audience is not this client")
        if not isinstance(claims.get("sub"), str):
            raise InvalidTokenError("token has no sub claim")
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._secret, signing_input.encode("utf-8"), hashlib.sha256).digest()

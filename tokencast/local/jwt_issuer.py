"""A local stand-in for a Cognito user pool: mints and verifies Cognito-shaped tokens.

The cloud API's default auth mode is Cognito user pools. Locally there is no Cognito, so
``tokencast token --user NAME`` mints a JWT here and the AppSync emulator verifies it with
the same key (:class:`tokencast.local.appsync.auth.Authenticator`). The tokens look like
Cognito's, so frontends' Cognito code paths run unchanged against the local stack:

- signed **RS256** with a ``kid``, and the public key published as a JWKS (the emulator serves
  it at ``/.well-known/jwks.json``, as Cognito does under its issuer URL);
- an **ID token** carries ``sub``, ``cognito:username``, ``cognito:groups`` (only when there
  are groups), ``iss``, ``aud``, ``token_use: id``, ``auth_time``, ``iat``, ``exp``, ``jti``
  and optionally ``email``; an **access token** carries ``client_id``, ``username``,
  ``scope`` and ``token_use: access`` instead of ``aud`` and ``cognito:username``.

Signing and parsing are joserfc's; the claim rules (no leeway on ``exp``, issuer, audience or
client id by token use) are AppSync's, written out below because they are the contract.

The signing key is generated on first use and kept in ``.tokencast/jwt-signing-key.json``
(or the file named by ``TOKENCAST_LOCAL_JWT_KEY_FILE``), so ``tokencast up`` and a
``tokencast token`` run in another terminal agree with no setup, and the key never leaves the
machine. Tokens and keys are never logged or put in exception messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import RSAKey

from tokencast.local import state_dir

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "JWKS_PATH",
    "KEY_FILE_ENV",
    "InvalidTokenError",
    "JwtError",
    "LocalJwtIssuer",
    "MalformedTokenError",
    "TokenExpiredError",
]

#: The environment variable naming the signing key's file (a private JWK, JSON).
KEY_FILE_ENV = "TOKENCAST_LOCAL_JWT_KEY_FILE"
#: Shaped like a Cognito issuer (``https://cognito-idp.<region>.amazonaws.com/<pool id>``).
DEFAULT_ISSUER = "https://cognito-idp.local/tokencast-local"
#: Plays the Cognito app client id (the ID token's ``aud``, the access token's ``client_id``).
DEFAULT_AUDIENCE = "tokencast-local-client"
#: Where the emulator publishes the public key, as Cognito does under its issuer URL.
JWKS_PATH = "/.well-known/jwks.json"

_ALG = "RS256"
_KEY_BITS = 2048
_ACCESS_SCOPE = "aws.cognito.signin.user.admin"


class JwtError(Exception):
    """A token was refused. Messages say why without echoing the token."""


class MalformedTokenError(JwtError):
    """Not a compact JWS of JSON, or not signed RS256: AppSync's "Unable to parse JWT token."."""


class InvalidTokenError(JwtError):
    """Well formed, but the signature, issuer, audience or another claim is wrong."""


class TokenExpiredError(JwtError):
    """The ``exp`` claim is in the past: AppSync's "Token has expired."."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("use timezone-aware datetimes")
    return int(moment.timestamp())


def default_key_file(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    named = environ.get(KEY_FILE_ENV)
    if named:
        return Path(named)
    return state_dir(environ) / "jwt-signing-key.json"


def new_signing_key() -> RSAKey:
    return RSAKey.generate_key(_KEY_BITS, parameters={"use": "sig", "alg": _ALG}, auto_kid=True)


def load_or_create_key(path: Path) -> RSAKey:
    """The key in ``path``, generated there first if missing.

    Two processes starting at once (``tokencast up`` and ``tokencast token``) must end with one
    key: the new key is written to a private temporary file and *linked* into place, which
    fails if another process won; the loser then reads the winner's complete file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = new_signing_key()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwt-key-")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(key.as_dict(private=True), out)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return RSAKey.import_key(json.loads(path.read_text(encoding="utf-8")))


class LocalJwtIssuer:
    """Mints and verifies RS256 JWTs shaped like Cognito ID and access tokens.

    ``client_id`` is accepted as an alias of ``audience`` (Cognito calls the app client id
    both). Verification accepts an ID token whose ``aud`` is the audience, or an access token
    whose ``client_id`` is, as AppSync does.
    """

    def __init__(
        self,
        key: RSAKey,
        issuer: str = DEFAULT_ISSUER,
        audience: str | None = None,
        *,
        client_id: str | None = None,
    ) -> None:
        if not key.is_private:
            raise ValueError("the issuer needs the private key")
        if audience is not None and client_id is not None and audience != client_id:
            raise ValueError("audience and client_id name the same thing; give one")
        self._key = key
        self.issuer = issuer
        self.audience = audience or client_id or DEFAULT_AUDIENCE

    def __repr__(self) -> str:  # never show the key
        return f"LocalJwtIssuer(issuer={self.issuer!r}, audience={self.audience!r}, kid={self.kid!r})"

    @property
    def client_id(self) -> str:
        return self.audience

    @property
    def kid(self) -> str:
        return str(self._key.kid)

    @classmethod
    def generate(cls, issuer: str = DEFAULT_ISSUER, audience: str | None = None) -> LocalJwtIssuer:
        """An issuer with a fresh key held in memory only (tests, throwaway stacks)."""
        return cls(new_signing_key(), issuer, audience)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalJwtIssuer:
        """The issuer the local stack and the CLI share: the key file, created on first use."""
        return cls(load_or_create_key(default_key_file(environ)))

    def jwks(self) -> dict[str, Any]:
        """The public key set, as Cognito publishes it at ``<issuer>/.well-known/jwks.json``."""
        return {"keys": [self._key.as_dict(private=False)]}

    def subject_for(self, username: str) -> str:
        """The stable ``sub`` of a user: uuid5 of issuer and username.

        Stable so that sessions a user owns (owner == sub) survive restarts, re-minting and a
        new key; scoped by issuer so two local "pools" never share subjects.
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
        token_use: str = "id",
        now: datetime | None = None,
    ) -> str:
        """A signed token for ``username``: an ID token, or an access token with ``token_use="access"``.

        ``extra_claims`` are merged last (they may override standard claims; this is a dev
        tool, and tests need to mint odd tokens). ``now`` defaults to the current time.
        """
        if not username:
            raise ValueError("username must not be empty")
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if token_use not in ("id", "access"):
            raise ValueError("token_use must be id or access")
        iat = _epoch(now or _utcnow())
        claims: dict[str, Any] = {
            "sub": self.subject_for(username),
            "iss": self.issuer,
            "token_use": token_use,
            "auth_time": iat,
            "iat": iat,
            "exp": iat + int(ttl.total_seconds()),
            "jti": str(uuid.uuid4()),
        }
        if token_use == "id":
            claims.update({"cognito:username": username, "aud": self.audience})
            if email is not None:
                claims.update({"email": email, "email_verified": True})
        else:
            claims.update({"username": username, "client_id": self.audience, "scope": _ACCESS_SCOPE})
        group_list = list(groups)
        if group_list:
            claims["cognito:groups"] = group_list
        if extra_claims:
            claims.update(extra_claims)
        return jwt.encode({"alg": _ALG, "kid": self.kid}, claims, self._key)

    def verify(self, token: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The claims of a token this issuer signed, or a :class:`JwtError` subclass.

        The signature is checked (RS256 only: ``none`` and HS/RS confusion are refused) before
        any claim is trusted; then ``exp`` (no leeway, like AppSync), ``nbf`` if present,
        ``iss``, and the audience by token use.
        """
        if not isinstance(token, str) or token.count(".") != 2:
            raise MalformedTokenError("token is not a compact JWS")
        try:
            decoded = jwt.decode(token, self._key, algorithms=[_ALG])
        except BadSignatureError:
            raise InvalidTokenError("token signature does not verify") from None
        except (JoseError, ValueError):  # not base64url JSON, or not RS256
            raise MalformedTokenError("token is not an RS256 JWT") from None
        claims = dict(decoded.claims)

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

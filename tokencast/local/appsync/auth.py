"""Authentication for the local AppSync emulator: API keys, IAM (SigV4) and Cognito-like JWTs.

The emulator's HTTP and WebSocket server calls :meth:`Authenticator.authenticate` once per
request (HTTP ``POST /graphql``, the real-time connect handshake, each ``start`` message)
and :meth:`Authenticator.authorize_field` for each top-level field. What comes back is a
:class:`Caller` whose ``identity`` is exactly the ``ctx.identity`` AppSync hands resolvers,
so handlers and :mod:`tokencast.access` cannot tell the emulator from the cloud.

How a mode is chosen (as AppSync does, per request, from headers alone):

- an ``x-api-key`` header → ``API_KEY``;
- ``Authorization: AWS4-HMAC-SHA256 ...`` → ``AWS_IAM`` (SigV4, service ``appsync``);
- any other ``Authorization`` → ``AMAZON_COGNITO_USER_POOLS``. Cognito tokens are sent raw;
  AppSync itself refuses a ``Bearer `` prefix, the emulator accepts it (a local convenience).
- nothing → 401 ``UnauthorizedException`` "Valid authorization header not provided.".

SigV4 is verified for real, never trusted: the canonical request is rebuilt from the
headers the client *says* it signed (``SignedHeaders``) and the request's own
``X-Amz-Date``; the payload hash is computed here from the body, because botocore's
``SigV4Auth.canonical_request`` would take an ``X-Amz-Content-SHA256`` header at its word
(a client could then swap the body and keep the signature). A present
``X-Amz-Content-SHA256`` that differs from the body's hash is refused. Clock skew is
checked against ``X-Amz-Date`` (±5 minutes by default), and signatures are compared with
:func:`hmac.compare_digest`. A session token (``X-Amz-Security-Token``) is just a signed
header here: the emulator has no STS to validate it against. The canonical URI is the
``path`` the caller passes (``/graphql``, or ``/graphql/connect`` for the WebSocket
handshake, whose body is ``{}``), the query string is empty and the method is ``POST``;
that is what gql 4.4's ``AppSyncIAMAuthentication`` (botocore ``SigV4Auth``) and
requests-aws4auth sign. For a WebSocket ``start`` message pass ``path="/graphql"`` and the
message's ``payload.data`` string as ``body``.

Errors, and where their wording comes from (AppSync does not publish a table; these are
the responses AppSync users report, and the AWS knowledge-center article "How do I
troubleshoot Unauthorized errors when running GraphQL requests in AWS AppSync?"):

=======  ================================  ====================================================
status   errorType                         message (cases)
=======  ================================  ====================================================
401      UnauthorizedException             "Valid authorization header not provided." (no or
                                           unusable credentials; JWT that fails verification,
                                           e.g. amplify-js#4373, #8892 for a ``Bearer`` prefix)
401      UnauthorizedException             "You are not authorized to make this call." (unknown
                                           API key; the wording is reported for AppSync 401s,
                                           e.g. a Lambda authorizer's denial in amplify-js#9513)
401      UnauthorizedException             "Unable to parse JWT token." (malformed JWT,
                                           amplify-js#2645)
401      UnauthorizedException             "Token has expired." (expired JWT; wording from
                                           memory of AppSync responses, not found in a
                                           public report while writing this)
403      InvalidSignatureException         "The request signature we calculated does not match
                                           the signature you provided. ..." (amplify-js#2422,
                                           aws-mobile-appsync-sdk-js#750; AWS appends the
                                           canonical string, omitted here as it carries the
                                           session token)
403      InvalidSignatureException         "Signature expired: <date> is now earlier than
                                           <now-5m> (<now> - 5 min.)" and "Signature not yet
                                           current: <date> is still later than <now+5m> (<now>
                                           + 5 min.)" (aws-mobile-appsync-sdk-js#385, #620)
403      IncompleteSignatureException      "Authorization header requires 'Credential'
                                           parameter. ..." (amplify-js#7906), "'accept' is
                                           named as a SignedHeader, but it does not exist in
                                           the HTTP request." (aws-mobile-appsync-sdk-js#702)
403      UnrecognizedClientException       "The security token included in the request is
                                           invalid." (unknown access key; amplify-js#3447)
200      Unauthorized                      "Not Authorized to access <field> on type <Type>"
                                           (field-level denial: HTTP 200 with a GraphQL error
                                           whose path is the field)
=======  ================================  ====================================================

Note: AppSync reports IAM failures as ``InvalidSignatureException`` /
``IncompleteSignatureException`` / ``UnrecognizedClientException`` with HTTP 403 (also in the
``x-amzn-ErrorType`` response header), not as ``ForbiddenException``. The 403 for
``IncompleteSignatureException`` is inferred from the other IAM failures; reports show the
body, not the status. Some services say ``BadRequestException`` for clock skew
(amplify-js#11480 reports it for AppSync through Amplify); the emulator uses
``InvalidSignatureException``, the type Amplify's clock-skew retry also recognises.

Nothing here logs or puts into messages an API key, a token, a secret or a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from tokencast.local.jwt_issuer import (
    JwtError,
    LocalJwtIssuer,
    MalformedTokenError,
    TokenExpiredError,
)

__all__ = [
    "DIRECTIVE_MODES",
    "AuthConfig",
    "AuthError",
    "AuthMode",
    "Authenticator",
    "Caller",
    "modes_from_directives",
    "utcnow",
]

SERVICE = "appsync"
_ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_DEFAULT_ACCOUNT = "000000000000"


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


class AuthError(Exception):
    """A refused request, carrying what AppSync would answer.

    ``error_type`` is AppSync's ``errorType``; ``status`` the HTTP status of the response
    (401/403 for authentication failures, which answer the whole request; 200 for a
    field-level ``Unauthorized``, which is one GraphQL error among possible data).
    The table of cases and their sources is in this module's docstring.
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
        return f"AuthError({self.error_type!r}, {self.message!r}, status={self.status})"


# The 401s and 403s AppSync answers with. Functions, so every raise gets a fresh exception.
def _no_valid_header() -> AuthError:
    return AuthError("UnauthorizedException", "Valid authorization header not provided.", 401)


def _bad_api_key() -> AuthError:
    return AuthError("UnauthorizedException", "You are not authorized to make this call.", 401)


def _incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", message, 403)


def _invalid_signature(message: str) -> AuthError:
    return AuthError("InvalidSignatureException", message, 403)


def _signature_mismatch() -> AuthError:
    return _invalid_signature(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


@dataclass(frozen=True)
class AuthConfig:
    """What the emulator accepts. Mappings are copied read-only at construction.

    ``iam_credentials`` maps access key id → secret access key (locally the
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` the stack hands the worker, ``test``/
    ``test`` by default); ``iam_principals`` maps access key id → the ``userArn`` to report
    (default ``arn:aws:iam::000000000000:user/<access key id>``).
    """

    api_keys: frozenset[str]
    iam_credentials: Mapping[str, str]
    iam_principals: Mapping[str, str]
    jwt: LocalJwtIssuer
    region: str = "us-east-1"
    max_clock_skew: timedelta = timedelta(minutes=5)
    default_mode: AuthMode = AuthMode.AMAZON_COGNITO_USER_POOLS
    enabled_modes: frozenset[AuthMode] = field(default_factory=lambda: frozenset(AuthMode))

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_keys", frozenset(self.api_keys))
        object.__setattr__(self, "iam_credentials", MappingProxyType(dict(self.iam_credentials)))
        object.__setattr__(self, "iam_principals", MappingProxyType(dict(self.iam_principals)))
        object.__setattr__(self, "enabled_modes", frozenset(AuthMode(m) for m in self.enabled_modes))
        object.__setattr__(self, "default_mode", AuthMode(self.default_mode))
        if self.max_clock_skew < timedelta(0):
            raise ValueError("max_clock_skew must not be negative")

    def __repr__(self) -> str:  # keys and secrets stay out of reprs and logs
        return (
            f"AuthConfig(api_keys=<{len(self.api_keys)}>, iam_access_keys=<{len(self.iam_credentials)}>, "
            f"jwt={self.jwt!r}, region={self.region!r}, default_mode={self.default_mode.value}, "
            f"enabled_modes={sorted(m.value for m in self.enabled_modes)})"
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        api_keys: Iterable[str] | None = None,
        **overrides: Any,
    ) -> AuthConfig:
        """The local stack's configuration.

        IAM: one credential pair from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
        (default ``test``/``test``, what moto and the local worker use). Region from
        ``AWS_REGION``/``AWS_DEFAULT_REGION`` (default ``us-east-1``). API keys: the
        ``api_keys`` argument, else ``TOKENCAST_LOCAL_API_KEYS`` (comma separated), else
        none. JWT: :meth:`LocalJwtIssuer.from_env`.
        """
        env = os.environ if environ is None else environ
        access_key = env.get("AWS_ACCESS_KEY_ID") or "test"
        secret_key = env.get("AWS_SECRET_ACCESS_KEY") or "test"
        if api_keys is None:
            api_keys = [k.strip() for k in env.get("TOKENCAST_LOCAL_API_KEYS", "").split(",") if k.strip()]
        values: dict[str, Any] = {
            "api_keys": frozenset(api_keys),
            "iam_credentials": {access_key: secret_key},
            "iam_principals": {},
            "jwt": LocalJwtIssuer.from_env(env),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class _SigV4Header:
    access_key: str
    scope_date: str
    scope_region: str
    scope_service: str
    signed_headers: tuple[str, ...]
    signed_headers_raw: str
    signature: str


class Authenticator:
    """Decides who a request is from, and whether that caller may touch a field.

    ``clock`` returns the current time (timezone-aware); tests inject one to check clock
    skew and token expiry without sleeping.
    """

    def __init__(self, config: AuthConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self._clock = clock

    # ------------------------------------------------------------------ entry points

    def authenticate(
        self,
        *,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> Caller:
        """The :class:`Caller` of a request, or :class:`AuthError` as AppSync would refuse it.

        ``headers`` are matched case-insensitively; a multi-valued mapping (aiohttp's
        ``CIMultiDict``) is fine, repeated headers are joined as SigV4 says. ``path`` is the
        canonical URI for SigV4, without a query string. ``body`` is the exact bytes
        received (for the WebSocket handshake, ``b"{}"``).
        """
        if "?" in path:
            raise ValueError("path must not contain a query string")
        normalized = _normalize_headers(headers)
        enabled = self.config.enabled_modes
        if not all(_is_text(name) and all(_is_text(v) for v in values) for name, values in normalized.items()):
            # bytes that are not UTF-8 (aiohttp keeps them as lone surrogates), or a JSON
            # "\ud800" in the real-time header parameter: no credential looks like that
            raise _no_valid_header()

        api_key = _first(normalized, "x-api-key")
        if api_key is not None:
            if AuthMode.API_KEY not in enabled:
                raise _no_valid_header()
            return self._authenticate_api_key(api_key)

        authorization = (_first(normalized, "authorization") or "").strip()
        if not authorization:
            raise _no_valid_header()

        if authorization.startswith(_ALGORITHM):
            if AuthMode.AWS_IAM not in enabled:
                raise _no_valid_header()
            return self._authenticate_iam(authorization, normalized, path, body, source_ip)

        if AuthMode.AMAZON_COGNITO_USER_POOLS not in enabled:
            raise _no_valid_header()
        return self._authenticate_jwt(authorization, source_ip)

    def authorize_field(
        self,
        caller: Caller,
        directive_modes: frozenset[AuthMode],
        *,
        field_name: str | None = None,
        type_name: str | None = None,
    ) -> None:
        """Refuse a field whose auth directives do not include the caller's mode.

        ``directive_modes`` are the field's modes (or its type's, when the field has none;
        see :func:`modes_from_directives`); empty means the API's default mode. The refusal
        is AppSync's field-level error: ``errorType`` ``Unauthorized``, message
        ``Not Authorized to access <field> on type <Type>``, HTTP 200 (the response still
        carries data for other fields). Pass ``field_name`` and ``type_name`` to get that
        exact message.
        """
        allowed = directive_modes or frozenset({self.config.default_mode})
        if caller.mode in allowed:
            return
        target = field_name or "field"
        owner = type_name or "type"
        raise AuthError("Unauthorized", f"Not Authorized to access {target} on type {owner}", 200)

    # ------------------------------------------------------------------ API key

    def _authenticate_api_key(self, given: str) -> Caller:
        # Compare against every key so timing says nothing about which prefix matched.
        candidate = given.strip().encode("utf-8")
        matched = False
        for key in self.config.api_keys:
            matched |= hmac.compare_digest(candidate, key.encode("utf-8"))
        if not candidate or not matched:
            raise _bad_api_key()
        return Caller(AuthMode.API_KEY, None)

    # ------------------------------------------------------------------ Cognito / JWT

    def _authenticate_jwt(self, authorization: str, source_ip: str) -> Caller:
        token = authorization
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            claims = self.config.jwt.verify(token, now=self._clock())
        except MalformedTokenError:
            raise AuthError("UnauthorizedException", "Unable to parse JWT token.", 401) from None
        except TokenExpiredError:
            raise AuthError("UnauthorizedException", "Token has expired.", 401) from None
        except JwtError:
            raise _no_valid_header() from None
        groups = claims.get("cognito:groups")
        identity = {
            "sub": claims["sub"],
            "issuer": claims["iss"],
            "username": claims.get("cognito:username") or claims.get("username") or claims["sub"],
            "claims": claims,
            "sourceIp": [source_ip],
            "defaultAuthStrategy": "ALLOW",
            "groups": list(groups) if isinstance(groups, list) and groups else None,
        }
        return Caller(AuthMode.AMAZON_COGNITO_USER_POOLS, identity)

    # ------------------------------------------------------------------ IAM / SigV4

    def _authenticate_iam(
        self,
        authorization: str,
        headers: Mapping[str, list[str]],
        path: str,
        body: bytes,
        source_ip: str,
    ) -> Caller:
        parsed = _parse_sigv4_authorization(authorization)

        if parsed.scope_service != SERVICE:
            raise _invalid_signature(f"Credential should be scoped to correct service: '{SERVICE}'.")
        if parsed.scope_region != self.config.region:
            raise _invalid_signature(f"Credential should be scoped to a valid region, not '{parsed.scope_region}'.")
        secret = self.config.iam_credentials.get(parsed.access_key)
        if secret is None:
            raise AuthError(
                "UnrecognizedClientException", "The security token included in the request is invalid.", 403
            )
        if "host" not in parsed.signed_headers:
            raise _invalid_signature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        for name in parsed.signed_headers:
            if name not in headers:
                raise _incomplete(f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP request.")

        amz_date = _first(headers, "x-amz-date")
        if amz_date is None:
            raise _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        amz_date = amz_date.strip()
        try:
            signed_at = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"") from None
        if parsed.scope_date != amz_date[:8]:
            raise _invalid_signature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{parsed.scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        self._check_clock_skew(signed_at)

        payload_hash = hashlib.sha256(body).hexdigest()
        claimed_hash = _first(headers, "x-amz-content-sha256")
        if claimed_hash is not None and not hmac.compare_digest(
            claimed_hash.strip().lower().encode("utf-8"), payload_hash.encode("ascii")
        ):
            raise _invalid_signature("The provided 'x-amz-content-sha256' header does not match what was computed.")

        expected = _sigv4_signature(
            access_key=parsed.access_key,
            secret_key=secret,
            region=parsed.scope_region,
            amz_date=amz_date,
            path=path,
            headers=headers,
            signed_headers=parsed.signed_headers,
            signed_headers_raw=parsed.signed_headers_raw,
            payload_hash=payload_hash,
        )
        if not hmac.compare_digest(expected.encode("ascii"), parsed.signature.encode("utf-8")):
            raise _signature_mismatch()

        user_arn = self.config.iam_principals.get(parsed.access_key) or (
            f"arn:aws:iam::{_DEFAULT_ACCOUNT}:user/{parsed.access_key}"
        )
        identity = {
            "accountId": _account_of(user_arn),
            "cognitoIdentityPoolId": None,
            "cognitoIdentityId": None,
            "sourceIp": [source_ip],
            "username": parsed.access_key,
            "userArn": user_arn,
            "cognitoIdentityAuthType": None,
            "cognitoIdentityAuthProvider": None,
        }
        return Caller(AuthMode.AWS_IAM, identity)

    def _check_clock_skew(self, signed_at: datetime) -> None:
        now = self._clock().astimezone(UTC)
        skew = self.config.max_clock_skew
        minutes = f"{skew.total_seconds() / 60:g} min."
        if signed_at < now - skew:
            raise _invalid_signature(
                f"Signature expired: {_amz(signed_at)} is now earlier than {_amz(now - skew)} ({_amz(now)} - {minutes})"
            )
        if signed_at > now + skew:
            raise _invalid_signature(
                f"Signature not yet current: {_amz(signed_at)} is still later than {_amz(now + skew)} "
                f"({_amz(now)} + {minutes})"
            )


# ---------------------------------------------------------------------- helpers


def _normalize_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Lower-cased name → every value, in order (multi-dicts yield repeated names)."""
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        out.setdefault(name.strip().lower(), []).append(value)
    return out


def _first(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _amz(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_AMZ_DATE_FORMAT)


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else _DEFAULT_ACCOUNT


def _parse_sigv4_authorization(authorization: str) -> _SigV4Header:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.

    Messages follow AWS's ``IncompleteSignatureException`` wording, minus the echo of the
    header (it holds the signature).
    """
    rest = authorization[len(_ALGORITHM) :]
    if rest and not rest[0].isspace():
        raise _incomplete("Unsupported AWS 'algorithm' in Authorization header.")
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise _incomplete("A part of the Authorization header is not a valid key=value pair (missing equal-sign).")
        params[key.strip()] = value.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if missing:
        raise _incomplete(" ".join(missing))
    scope = params["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise _incomplete("Credential should have the form <access key>/<yyyyMMdd>/<region>/<service>/aws4_request.")
    access_key, scope_date, region, service, terminator = scope
    if terminator != "aws4_request":
        raise _invalid_signature(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )
    raw_signed = params["SignedHeaders"]
    signed = tuple(h.strip().lower() for h in raw_signed.split(";") if h.strip())
    return _SigV4Header(access_key, scope_date, region, service, signed, raw_signed, params["Signature"])


def _sigv4_signature(
    *,
    access_key: str,
    secret_key: str,
    region: str,
    amz_date: str,
    path: str,
    headers: Mapping[str, list[str]],
    signed_headers: tuple[str, ...],
    signed_headers_raw: str,
    payload_hash: str,
) -> str:
    """The signature a client holding ``secret_key`` would have sent.

    Built from botocore's own pieces (``SigV4Auth.canonical_headers``, ``string_to_sign``,
    ``signature``, ``normalize_url_path``) so header trimming, sorting and key derivation
    match what gql/botocore clients do; but only the signed headers go in, and the payload
    hash is the one computed from the body. Not ``SigV4Auth.canonical_request``: it would
    read ``X-Amz-Content-SHA256`` from the request and drop headers on botocore's
    never-sign list that another client may have signed.
    """
    signer = SigV4Auth(Credentials(access_key, secret_key), SERVICE, region)
    to_sign = HTTPHeaders()
    for name in signed_headers:
        for value in headers[name]:
            to_sign[name] = value  # HTTPHeaders appends: repeated headers are all kept
    canonical_request = "\n".join(
        [
            "POST",
            quote(normalize_url_path(path), safe="/~"),
            "",  # AppSync requests carry no query string
            signer.canonical_headers(to_sign) + "\n",
            signed_headers_raw,
            payload_hash,
        ]
    )
    request = AWSRequest(method="POST", url=f"https://localhost{path}")
    request.context["timestamp"] = amz_date
    string_to_sign = signer.string_to_sign(request, canonical_request)
    return signer.signature(string_to_sign, request)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

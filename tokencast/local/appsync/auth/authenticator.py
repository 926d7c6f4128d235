"""Authentication for the local AppSync emulator (the modes: api_key, sigv4, cognito): API keys, IAM (SigV4) and Cognito-like JWTs.

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

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from tokencast.config import LocalWiring
from tokencast.local.appsync.auth.api_key import authenticate_api_key
from tokencast.local.appsync.auth.cognito import authenticate_jwt
from tokencast.local.appsync.auth.common import (
    AuthMode,
    AuthRejected,
    Caller,
    first_header,
    is_text,
    no_valid_header,
    normalize_headers,
    utcnow,
)
from tokencast.local.appsync.auth.sigv4 import ALGORITHM, authenticate_iam
from tokencast.local.jwt_issuer import LocalJwtIssuer


@dataclass(frozen=True)
class AuthConfig:
    """What the emulator accepts. Mappings are copied read-only at construction.

    ``iam_credentials`` maps access key id → secret access key (locally the
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` the stack hands the worker, ``test``/
    ``test`` by default); ``iam_principals`` maps access key id → who signs with it: a
    ``userArn`` (an IAM user, or an assumed role ``arn:aws:sts::<account>:assumed-role/<role>/
    <session>``), or a mapping with ``userArn`` plus the Cognito identity-pool fields
    (``cognitoIdentityPoolId``, ``cognitoIdentityId``, ``cognitoIdentityAuthType``,
    ``cognitoIdentityAuthProvider``) for a caller signing with identity-pool credentials.
    Default: ``arn:aws:iam::000000000000:user/<access key id>``.
    """

    api_keys: frozenset[str]
    iam_credentials: Mapping[str, str]
    iam_principals: Mapping[str, str | Mapping[str, Any]]
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
        ``api_keys`` argument, else ``TOKENCAST_LOCAL_API_KEYS`` (comma separated; see
        :class:`~tokencast.config.LocalWiring`), else none. JWT: :meth:`LocalJwtIssuer.from_env`.
        """
        env = os.environ if environ is None else environ
        access_key = env.get("AWS_ACCESS_KEY_ID") or "test"
        secret_key = env.get("AWS_SECRET_ACCESS_KEY") or "test"
        if api_keys is None:
            api_keys = LocalWiring.from_env(env).local_api_keys
        values: dict[str, Any] = {
            "api_keys": frozenset(api_keys),
            "iam_credentials": {access_key: secret_key},
            "iam_principals": {},
            "jwt": LocalJwtIssuer.from_env(env),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        }
        values.update(overrides)
        return cls(**values)


class Authenticator:
    """Decides who a request is from, and whether that caller may touch a field.

    ``clock`` returns the current time (timezone-aware); tests inject one to check clock
    skew and token expiry without sleeping.
    """

    def __init__(self, config: AuthConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self._clock = clock

    def authenticate(
        self,
        *,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> Caller:
        """The :class:`Caller` of a request, or :class:`AuthRejected` as AppSync would refuse it.

        ``headers`` are matched case-insensitively; a multi-valued mapping (aiohttp's
        ``CIMultiDict``) is fine, repeated headers are joined as SigV4 says. ``path`` is the
        canonical URI for SigV4, without a query string. ``body`` is the exact bytes
        received (for the WebSocket handshake, ``b"{}"``).
        """
        if "?" in path:
            raise ValueError("path must not contain a query string")
        normalized = normalize_headers(headers)
        enabled = self.config.enabled_modes
        if not all(is_text(name) and all(is_text(v) for v in values) for name, values in normalized.items()):
            # bytes that are not UTF-8 (aiohttp keeps them as lone surrogates), or a JSON
            # "\ud800" in the real-time header parameter: no credential looks like that
            raise no_valid_header()

        api_key = first_header(normalized, "x-api-key")
        if api_key is not None:
            if AuthMode.API_KEY not in enabled:
                raise no_valid_header()
            return authenticate_api_key(self.config.api_keys, api_key)

        authorization = (first_header(normalized, "authorization") or "").strip()
        if not authorization:
            raise no_valid_header()

        if authorization.startswith(ALGORITHM):
            if AuthMode.AWS_IAM not in enabled:
                raise no_valid_header()
            return authenticate_iam(self.config, self._clock(), authorization, normalized, path, body, source_ip)

        if AuthMode.AMAZON_COGNITO_USER_POOLS not in enabled:
            raise no_valid_header()
        return authenticate_jwt(self.config.jwt, authorization, source_ip, self._clock())

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
        raise AuthRejected("Unauthorized", f"Not Authorized to access {target} on type {owner}", 200)

"""How the client authorizes: API key, IAM (SigV4 with botocore credentials) or a JWT.

Each mode turns into one of gql's :class:`~gql.transport.appsync_auth.AppSyncAuthentication`
objects for the API host. That one object serves both transports: gql's
``AIOHTTPTransport`` asks it for the headers of every HTTP request (signing the body for
IAM), and ``AppSyncWebsocketsTransport`` for the connect URL's ``header`` parameter and the
``authorization`` of every ``start`` message. A fresh object is made per connection, so an
IAM connect signature is never older than the connection.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from gql.transport.appsync_auth import (
    AppSyncApiKeyAuthentication,
    AppSyncAuthentication,
    AppSyncIAMAuthentication,
    AppSyncJWTAuthentication,
)

from tokencast.client.errors import AuthError

__all__ = ["ApiKeyAuth", "Auth", "IamAuth", "JwtAuth"]


class Auth(ABC):
    """An authorization mode: makes the gql authentication for an API host."""

    @abstractmethod
    def authentication(self, host: str) -> AppSyncAuthentication:
        """The authentication for ``host`` (``X.appsync-api.R.amazonaws.com``, ``127.0.0.1:4000``)."""


class ApiKeyAuth(Auth):
    """AppSync API key (``x-api-key``)."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.api_key = api_key

    def authentication(self, host: str) -> AppSyncAuthentication:
        return AppSyncApiKeyAuthentication(host=host, api_key=self.api_key)

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self.api_key[:4]}…)"


class _RefreshingJwtAuthentication(AppSyncJWTAuthentication):
    """gql's JWT authentication, asking a provider for the token on every request."""

    def __init__(self, host: str, provider: Callable[[], str]) -> None:
        super().__init__(host=host, jwt=provider())
        self._provider = provider

    def get_headers(self, data: str | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        self.jwt = self._provider()
        return super().get_headers(data, headers)


class JwtAuth(Auth):
    """Cognito user pools / OIDC: the token in ``Authorization``.

    ``token`` is the JWT, or a zero-argument callable returning a current one (called for
    every request and connection, so it may refresh).
    """

    def __init__(self, token: str | Callable[[], str]) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self.token = token

    def authentication(self, host: str) -> AppSyncAuthentication:
        if callable(self.token):
            return _RefreshingJwtAuthentication(host, self.token)
        return AppSyncJWTAuthentication(host=host, jwt=self.token)

    def __repr__(self) -> str:
        return "JwtAuth(…)"


class IamAuth(Auth):
    """IAM: SigV4-signed requests (service ``appsync``).

    ``credentials``: botocore credentials; None resolves botocore's default chain once, on
    first use (environment, profile, container or instance role; refreshable ones refresh
    themselves). ``region``: needed off ``*.appsync-api.<region>.amazonaws.com`` hosts
    (local stack, custom domains); None tries the host, then botocore's configured region.
    """

    def __init__(self, credentials: Any = None, region: str | None = None, *, session: Any = None) -> None:
        self.region = region
        self._credentials = credentials
        self._session = session

    def _botocore_session(self) -> Any:
        if self._session is None:
            from botocore.session import get_session

            self._session = get_session()
        return self._session

    def _resolve_credentials(self) -> Any:
        if self._credentials is None:
            self._credentials = self._botocore_session().get_credentials()
            if self._credentials is None:
                raise AuthError(
                    "IAM auth: no AWS credentials found (botocore default chain)", error_type="NoCredentials"
                )
        return self._credentials

    def authentication(self, host: str) -> AppSyncAuthentication:
        from botocore.exceptions import NoCredentialsError, NoRegionError

        try:
            return AppSyncIAMAuthentication(
                host=host,
                region_name=self.region,
                credentials=self._resolve_credentials(),
                session=self._botocore_session(),
            )
        except NoRegionError:
            raise AuthError(
                f"IAM auth: no region for {host}; pass IamAuth(region=...)", error_type="NoRegion"
            ) from None
        except NoCredentialsError:
            raise AuthError("IAM auth: no AWS credentials found", error_type="NoCredentials") from None

    def __repr__(self) -> str:
        return f"IamAuth(region={self.region!r})"

"""``AMAZON_COGNITO_USER_POOLS`` authentication with the local JWT issuer's tokens."""

from __future__ import annotations

from datetime import datetime

from tokencast.local.appsync.auth.common import AuthMode, AuthRejected, Caller, no_valid_header
from tokencast.local.jwt_issuer import JwtError, LocalJwtIssuer, MalformedTokenError, TokenExpiredError


def authenticate_jwt(issuer: LocalJwtIssuer, authorization: str, source_ip: str, now: datetime) -> Caller:
    """``AMAZON_COGNITO_USER_POOLS``: verify the token, and build AppSync's Cognito ``ctx.identity``."""
    token = authorization
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        claims = issuer.verify(token, now=now)
    except MalformedTokenError:
        raise AuthRejected("UnauthorizedException", "Unable to parse JWT token.", 401) from None
    except TokenExpiredError:
        raise AuthRejected("UnauthorizedException", "Token has expired.", 401) from None
    except JwtError:
        raise no_valid_header() from None
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

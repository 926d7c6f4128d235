"""Authentication for the local AppSync emulator, one module per mode.

:mod:`.authenticator` chooses the mode from a request's headers (its docstring has AppSync's
rules and refusals); :mod:`.api_key`, :mod:`.sigv4` and :mod:`.cognito` check one mode each;
:mod:`.common` holds the :class:`Caller`, the modes and the :class:`AuthRejected` refusals.
"""

from tokencast.local.appsync.auth.authenticator import AuthConfig, Authenticator
from tokencast.local.appsync.auth.common import (
    DIRECTIVE_MODES,
    AuthMode,
    AuthRejected,
    Caller,
    modes_from_directives,
    utcnow,
)
from tokencast.local.appsync.auth.sigv4 import SERVICE, iam_identity

__all__ = [
    "DIRECTIVE_MODES",
    "SERVICE",
    "AuthConfig",
    "AuthMode",
    "AuthRejected",
    "Authenticator",
    "Caller",
    "iam_identity",
    "modes_from_directives",
    "utcnow",
]

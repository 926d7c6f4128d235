"""``API_KEY`` authentication: the ``x-api-key`` header against the configured keys."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from tokencast.local.appsync.auth.common import AuthMode, Caller, bad_api_key


def authenticate_api_key(api_keys: Iterable[str], given: str) -> Caller:
    """``API_KEY``: the ``x-api-key`` header must be one of ``api_keys``."""
    # Compare against every key so timing says nothing about which prefix matched.
    candidate = given.strip().encode("utf-8")
    matched = False
    for key in api_keys:
        matched |= hmac.compare_digest(candidate, key.encode("utf-8"))
    if not candidate or not matched:
        raise bad_api_key()
    return Caller(AuthMode.API_KEY, None)

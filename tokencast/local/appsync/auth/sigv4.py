"""``AWS_IAM`` authentication: SigV4 verified against the configured credentials."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from tokencast.local.appsync.auth.common import (
    AuthMode,
    AuthRejected,
    Caller,
    first_header,
    incomplete,
    invalid_signature,
    signature_mismatch,
)

if TYPE_CHECKING:
    from tokencast.local.appsync.auth.authenticator import AuthConfig

SERVICE = "appsync"
ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_DEFAULT_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class SigV4Header:
    access_key: str
    scope_date: str
    scope_region: str
    scope_service: str
    signed_headers: tuple[str, ...]
    signed_headers_raw: str
    signature: str


def authenticate_iam(
    config: AuthConfig,
    now: datetime,
    authorization: str,
    headers: Mapping[str, list[str]],
    path: str,
    body: bytes,
    source_ip: str,
) -> Caller:
    """``AWS_IAM``: verify the SigV4 signature for real (see the package docstring)."""
    parsed = parse_sigv4_authorization(authorization)

    if parsed.scope_service != SERVICE:
        raise invalid_signature(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if parsed.scope_region != config.region:
        raise invalid_signature(f"Credential should be scoped to a valid region, not '{parsed.scope_region}'.")
    secret = config.iam_credentials.get(parsed.access_key)
    if secret is None:
        raise AuthRejected("UnrecognizedClientException", "The security token included in the request is invalid.", 403)
    if "host" not in parsed.signed_headers:
        raise invalid_signature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    for name in parsed.signed_headers:
        if name not in headers:
            raise incomplete(f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP request.")

    amz_date = first_header(headers, "x-amz-date")
    if amz_date is None:
        raise incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    amz_date = amz_date.strip()
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"") from None
    if parsed.scope_date != amz_date[:8]:
        raise invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{parsed.scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    check_clock_skew(signed_at, now, config.max_clock_skew)

    payload_hash = hashlib.sha256(body).hexdigest()
    claimed_hash = first_header(headers, "x-amz-content-sha256")
    if claimed_hash is not None and not hmac.compare_digest(
        claimed_hash.strip().lower().encode("utf-8"), payload_hash.encode("ascii")
    ):
        raise invalid_signature("The provided 'x-amz-content-sha256' header does not match what was computed.")

    expected = sigv4_signature(
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
        raise signature_mismatch()

    return Caller(
        AuthMode.AWS_IAM,
        iam_identity(config.iam_principals.get(parsed.access_key), parsed.access_key, source_ip),
    )


def check_clock_skew(signed_at: datetime, now: datetime, skew: timedelta) -> None:
    now = now.astimezone(UTC)
    minutes = f"{skew.total_seconds() / 60:g} min."
    if signed_at < now - skew:
        raise invalid_signature(
            f"Signature expired: {_amz(signed_at)} is now earlier than {_amz(now - skew)} ({_amz(now)} - {minutes})"
        )
    if signed_at > now + skew:
        raise invalid_signature(
            f"Signature not yet current: {_amz(signed_at)} is still later than {_amz(now + skew)} "
            f"({_amz(now)} + {minutes})"
        )


def _amz(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_AMZ_DATE_FORMAT)


def iam_identity(principal: str | Mapping[str, Any] | None, access_key: str, source_ip: str) -> dict[str, Any]:
    """AppSync's ``ctx.identity`` for a SigV4 caller, every field AppSync sends.

    ``username`` is what AppSync reports: the access key id for an IAM user, and
    ``<role id>:<session name>`` for an assumed role (the role id here is a stable stand-in,
    ``AROA`` + a digest of the role's ARN, since there is no IAM to ask).
    """
    fields: Mapping[str, Any] = principal if isinstance(principal, Mapping) else {"userArn": principal}
    user_arn = fields.get("userArn") or f"arn:aws:iam::{_DEFAULT_ACCOUNT}:user/{access_key}"
    username = access_key
    resource = user_arn.split(":", 5)[-1]
    if resource.startswith("assumed-role/") and resource.count("/") >= 2:
        session = resource.split("/", 2)[2]
        role_id = "AROA" + hashlib.sha256(user_arn.rsplit("/", 1)[0].encode()).hexdigest()[:17].upper()
        username = f"{role_id}:{session}"
    return {
        "accountId": _account_of(user_arn),
        "cognitoIdentityPoolId": fields.get("cognitoIdentityPoolId"),
        "cognitoIdentityId": fields.get("cognitoIdentityId"),
        "sourceIp": [source_ip],
        "username": fields.get("username") or username,
        "userArn": user_arn,
        "cognitoIdentityAuthType": fields.get("cognitoIdentityAuthType"),
        "cognitoIdentityAuthProvider": fields.get("cognitoIdentityAuthProvider"),
    }


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else _DEFAULT_ACCOUNT


def parse_sigv4_authorization(authorization: str) -> SigV4Header:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.

    Messages follow AWS's ``IncompleteSignatureException`` wording, minus the echo of the
    header (it holds the signature).
    """
    rest = authorization[len(ALGORITHM) :]
    if rest and not rest[0].isspace():
        raise incomplete("Unsupported AWS 'algorithm' in Authorization header.")
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise incomplete("A part of the Authorization header is not a valid key=value pair (missing equal-sign).")
        params[key.strip()] = value.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if missing:
        raise incomplete(" ".join(missing))
    scope = params["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise incomplete("Credential should have the form <access key>/<yyyyMMdd>/<region>/<service>/aws4_request.")
    access_key, scope_date, region, service, terminator = scope
    if terminator != "aws4_request":
        raise invalid_signature(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )
    raw_signed = params["SignedHeaders"]
    signed = tuple(h.strip().lower() for h in raw_signed.split(";") if h.strip())
    return SigV4Header(access_key, scope_date, region, service, signed, raw_signed, params["Signature"])


def sigv4_signature(
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

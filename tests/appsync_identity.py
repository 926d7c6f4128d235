"""The ``identity`` shapes AppSync hands resolvers, as its resolver context reference documents
them: what the emulator's callers must look like, stated once for every test that checks it."""

from __future__ import annotations

#: ``ctx.identity`` of an IAM (SigV4) caller, identity-pool fields included.
IAM_IDENTITY_KEYS = frozenset(
    {
        "accountId",
        "cognitoIdentityPoolId",
        "cognitoIdentityId",
        "sourceIp",
        "username",
        "userArn",
        "cognitoIdentityAuthType",
        "cognitoIdentityAuthProvider",
    }
)
#: ``ctx.identity`` of a Cognito user-pool caller.
COGNITO_IDENTITY_KEYS = frozenset({"sub", "issuer", "username", "claims", "sourceIp", "defaultAuthStrategy", "groups"})

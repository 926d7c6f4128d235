"""The emulator's ``ctx.identity`` for SigV4 callers has AppSync's IAM shape, and the owner
chosen for each kind of IAM caller (tokencast.access) is stable across role sessions and
distinct per identity-pool user."""

from __future__ import annotations

from tests.appsync_identity import IAM_IDENTITY_KEYS
from tokencast.access import principal_of
from tokencast.local.appsync.auth import iam_identity


def test_an_iam_user_is_its_arn_and_access_key():
    identity = iam_identity("arn:aws:iam::123456789012:user/dave", "AKIADAVE", "10.0.0.1")
    assert set(identity) == IAM_IDENTITY_KEYS
    assert (identity["accountId"], identity["username"], identity["sourceIp"]) == (
        "123456789012",
        "AKIADAVE",
        ["10.0.0.1"],
    )
    assert identity["cognitoIdentityId"] is None
    assert principal_of(identity) == "arn:aws:iam::123456789012:user/dave"


def test_an_assumed_role_is_owned_by_the_role_whatever_the_session_name():
    first = iam_identity("arn:aws:sts::123456789012:assumed-role/ops/carol", "ASIA1", "10.0.0.1")
    later = iam_identity("arn:aws:sts::123456789012:assumed-role/ops/carol-ci-run-7", "ASIA2", "10.0.0.1")
    assert first["username"].startswith("AROA") and first["username"].endswith(":carol")
    assert first["username"].split(":")[0] == later["username"].split(":")[0]  # one role id
    assert principal_of(first) == principal_of(later) == "arn:aws:sts::123456789012:assumed-role/ops"


def test_identity_pool_users_share_a_role_but_not_an_owner():
    role = "arn:aws:sts::123456789012:assumed-role/tokencast-users/CognitoIdentityCredentials"

    def user(identity_id: str) -> dict:
        return iam_identity(
            {
                "userArn": role,
                "cognitoIdentityPoolId": "eu-west-1:pool",
                "cognitoIdentityId": identity_id,
                "cognitoIdentityAuthType": "authenticated",
            },
            "ASIAPOOL",
            "10.0.0.1",
        )

    alice, bob = user("eu-west-1:alice"), user("eu-west-1:bob")
    assert set(alice) == IAM_IDENTITY_KEYS and alice["cognitoIdentityAuthType"] == "authenticated"
    assert (principal_of(alice), principal_of(bob)) == ("eu-west-1:alice", "eu-west-1:bob")

"""Who the API's users are: a Cognito user pool (new, or an existing one) and a public app client."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct


@dataclass(frozen=True)
class UserAuthProps:
    #: Use this existing pool (in the stack's region) instead of creating one; its users, MFA and
    #: password policies apply, and the stack only adds an app client to it.
    existing_user_pool_id: str | None = None
    #: Or the pool itself, when the app that instantiates tokencast owns one (it wins over the id).
    user_pool: cognito.IUserPool | None = None
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN


class UserAuth(Construct):
    """The identity provider behind AppSync's default auth mode.

    A new pool is admin-provisioned (no self sign-up: anyone who can sign up could start
    Bedrock streams on our bill), signs in by e-mail, and has a strong password policy. The app
    client is public (no secret) because the CLI and browsers cannot keep one; it allows SRP and,
    for the CLI's headless sign-in, USER_PASSWORD_AUTH (the password travels over TLS to Cognito
    only). An existing pool (``userPoolId``) gets just a new app client.
    """

    def __init__(self, scope: Construct, id: str, props: UserAuthProps | None = None) -> None:
        super().__init__(scope, id)
        props = props or UserAuthProps()
        if props.user_pool is not None:
            self.user_pool: cognito.IUserPool = props.user_pool
        elif props.existing_user_pool_id:
            self.user_pool = cognito.UserPool.from_user_pool_id(self, "UserPool", props.existing_user_pool_id)
        else:
            pool = cognito.UserPool(
                self,
                "UserPool",
                self_sign_up_enabled=False,
                sign_in_aliases=cognito.SignInAliases(email=True),
                auto_verify=cognito.AutoVerifiedAttrs(email=True),
                account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
                password_policy=cognito.PasswordPolicy(
                    min_length=12,
                    require_lowercase=True,
                    require_uppercase=True,
                    require_digits=True,
                    require_symbols=True,
                    temp_password_validity=Duration.days(3),
                ),
                mfa=cognito.Mfa.OPTIONAL,
                mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
                deletion_protection=props.removal_policy == RemovalPolicy.RETAIN,
                removal_policy=props.removal_policy,
            )
            Validations.of(pool).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-COG2",
                    reason=(
                        "MFA is OPTIONAL (TOTP) rather than REQUIRED so the headless CLI can sign in "
                        "with USER_PASSWORD_AUTH; users can enrol TOTP, and production deployments "
                        "that need enforced MFA pass their own pool with -c userPoolId=..."
                    ),
                ),
                Acknowledgment(
                    id="AwsSolutions-COG8",
                    reason=(
                        "The Plus feature plan is billed per monthly active user and is only needed for "
                        "threat protection (see COG3); the Essentials plan covers sign-in for this API."
                    ),
                ),
                Acknowledgment(
                    id="AwsSolutions-COG3",
                    reason=(
                        "Threat protection (advanced security) needs the Cognito Plus feature plan, "
                        "billed per monthly active user; the pool is admin-provisioned with no self "
                        "sign-up, which removes the sign-up abuse it mainly guards against."
                    ),
                ),
            )
            self.user_pool = pool

        self.client = cognito.UserPoolClient(
            self,
            "CliClient",
            user_pool=self.user_pool,
            generate_secret=False,
            # No hosted UI / OAuth flows (CDK would default to implicit + code grants with an
            # example.com callback): clients sign in against the Cognito API directly.
            disable_o_auth=True,
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )

#!/usr/bin/env python3
"""tokencast inside a team's existing AppSync app, behind their Merged API.

The team already has a Cognito user pool and an AppSync API (here: a one-field stand-in).
They add tokencast as a construct on the same user pool, and give their frontend one
endpoint: an AppSync Merged API whose source APIs are their API and tokencast's. The worker
publishes ``publishToken`` through the Merged API (``Tokencast.publish_through``): AppSync
triggers a subscription only for mutations sent to the endpoint the subscriber is connected
to. The frontend then configures Amplify or Apollo with the Merged API's URL
(docs/frontends.md).

    cd examples/merged_api && cdk synth      # uses the repository's installed `cdk` package

An existing Merged API (created elsewhere) takes the same two steps with
``appsync.SourceApiAssociation(source_api=tokencast.api.api, merged_api=..., ...)`` and
``tokencast.publish_through(merged_api, graphql_url=...)`` (an imported API carries no URL).
tests/infra/test_merged_api_example.py synthesizes this app.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_appsync as appsync
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from cdk.config import TokencastConfig
from cdk.construct import Tokencast, TokencastProps
from tokencast.outputs import StackOutput

HERE = Path(__file__).resolve().parent


def authorization(pool: cognito.IUserPool) -> appsync.AuthorizationConfig:
    """Users sign in with the team's pool; IAM for tokencast's worker (publishToken)."""
    return appsync.AuthorizationConfig(
        default_authorization=appsync.AuthorizationMode(
            authorization_type=appsync.AuthorizationType.USER_POOL,
            user_pool_config=appsync.UserPoolConfig(user_pool=pool),
        ),
        additional_authorization_modes=[appsync.AuthorizationMode(authorization_type=appsync.AuthorizationType.IAM)],
    )


class TeamAppStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, config: TokencastConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)

        # What the team already had: their users and their API.
        pool = cognito.UserPool(self, "TeamUsers", self_sign_up_enabled=False)
        team_api = appsync.GraphqlApi(
            self,
            "TeamApi",
            name=f"{id}-team",
            definition=appsync.Definition.from_file(str(HERE / "team-schema.graphql")),
            authorization_config=authorization(pool),
        )
        team_api.add_none_data_source("Local").create_resolver(
            "MyProfile",
            type_name="Query",
            field_name="myProfile",
            runtime=appsync.FunctionRuntime.JS_1_0_0,
            code=appsync.Code.from_asset(str(HERE / "my-profile.js")),
        )

        # tokencast, on the same user pool (it adds an app client to it).
        self.tokencast = Tokencast(self, "Tokencast", TokencastProps(config=config, user_pool=pool))

        # One endpoint for the frontend: both APIs merged (auto-merge on every source change).
        self.merged = appsync.GraphqlApi(
            self,
            "Frontend",
            name=f"{id}-frontend",
            definition=appsync.Definition.from_source_apis(
                source_apis=[
                    appsync.SourceApi(source_api=team_api, merge_type=appsync.MergeType.AUTO_MERGE),
                    appsync.SourceApi(source_api=self.tokencast.api.api, merge_type=appsync.MergeType.AUTO_MERGE),
                ]
            ),
            authorization_config=authorization(pool),
        )
        self.tokencast.publish_through(self.merged)

        # What the frontend is configured with (docs/frontends.md).
        cdk.CfnOutput(
            self, StackOutput.GRAPHQL_URL, value=self.merged.graphql_url, description="the Merged API: one endpoint"
        )
        cdk.CfnOutput(self, StackOutput.REGION, value=self.region)
        cdk.CfnOutput(self, StackOutput.USER_POOL_ID, value=pool.user_pool_id)
        cdk.CfnOutput(self, StackOutput.USER_POOL_CLIENT_ID, value=self.tokencast.auth.client.user_pool_client_id)


def build(app: cdk.App) -> TeamAppStack:
    config = TokencastConfig.from_context(app.node.try_get_context)
    return TeamAppStack(
        app,
        "TeamApp",
        config=config,
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()

"""examples/merged_api: tokencast as a construct in a team's app, on their user pool, as a
source API of their Merged API, with the worker publishing through the Merged API."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from infra_helpers import resources

from tokencast.outputs import StackOutput

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "merged_api" / "app.py"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, Any]:
    import aws_cdk as cdk

    spec = importlib.util.spec_from_file_location("merged_api_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = json.loads((EXAMPLE.parent / "cdk.json").read_text())["context"]
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("example.out")), context={**context, "bundleDependencies": "false"}
    )
    stack = module.build(app)
    return app.synth().get_stack_by_name(stack.stack_name).template


def only(template: dict[str, Any], type_: str, where=lambda r: True) -> tuple[str, dict[str, Any]]:
    found = [(k, v) for k, v in resources(template, type_).items() if where(v)]
    assert len(found) == 1, f"{len(found)} {type_}"
    return found[0]


def test_one_user_pool_the_teams_and_tokencast_adds_its_client_to_it(template):
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    assert "TeamUsers" in pool_id
    clients = resources(template, "AWS::Cognito::UserPoolClient")
    assert clients and all(c["Properties"]["UserPoolId"] == {"Ref": pool_id} for c in clients.values())
    for api in resources(template, "AWS::AppSync::GraphQLApi").values():
        assert api["Properties"]["UserPoolConfig"]["UserPoolId"] == {"Ref": pool_id}


def test_the_merged_api_has_the_teams_api_and_tokencasts_as_sources(template):
    merged_id, merged = only(template, "AWS::AppSync::GraphQLApi", lambda r: r["Properties"].get("ApiType") == "MERGED")
    modes = {m["AuthenticationType"] for m in merged["Properties"]["AdditionalAuthenticationProviders"]}
    assert merged["Properties"]["AuthenticationType"] == "AMAZON_COGNITO_USER_POOLS" and "AWS_IAM" in modes
    associations = resources(template, "AWS::AppSync::SourceApiAssociation").values()
    sources = {json.dumps(a["Properties"]["SourceApiIdentifier"]) for a in associations}
    assert len(sources) == 2
    assert any("TokencastApi" in s for s in sources) and any("TeamApi" in s for s in sources)
    assert all(merged_id in json.dumps(a["Properties"]["MergedApiIdentifier"]) for a in associations)


def test_the_worker_publishes_through_the_merged_api(template):
    merged_id, _ = only(template, "AWS::AppSync::GraphQLApi", lambda r: r["Properties"].get("ApiType") == "MERGED")
    process_id, process = only(
        template, "AWS::Lambda::Function", lambda r: r["Properties"].get("Handler") == "lambdas.process.handler"
    )
    env = process["Properties"]["Environment"]["Variables"]
    assert env["TOKENCAST_GRAPHQL_URL"] == {"Fn::GetAtt": [merged_id, "GraphQLUrl"]}
    role = process["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    publish = [s for s in statements if s["Action"] == "appsync:GraphQL" and merged_id in json.dumps(s["Resource"])]
    assert publish and "Mutation/fields/publishToken" in json.dumps(publish[0]["Resource"])


def test_outputs_give_the_frontend_one_endpoint(template):
    outputs = template["Outputs"]
    frontend = {StackOutput.GRAPHQL_URL, StackOutput.REGION, StackOutput.USER_POOL_ID, StackOutput.USER_POOL_CLIENT_ID}
    assert frontend <= set(outputs)
    assert "GraphQLUrl" in json.dumps(outputs[StackOutput.GRAPHQL_URL]["Value"])
    assert json.dumps(outputs[StackOutput.GRAPHQL_URL]["Value"]).count("Frontend") == 1


def test_example_files_exist():
    assert (EXAMPLE.parent / "team-schema.graphql").is_file() and Path(EXAMPLE).is_file()


@pytest.fixture(scope="module")
def team_stack(tmp_path_factory) -> tuple[Any, Any]:
    """A bare team stack with the tokencast construct in it (not synthesized)."""
    import aws_cdk as cdk

    from cdk.config import TokencastConfig
    from cdk.construct import Tokencast, TokencastProps

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("team.out")), context={"bundleDependencies": "false"})
    stack = cdk.Stack(app, "Team")
    config = TokencastConfig.from_context(app.node.try_get_context)
    return stack, Tokencast(stack, "Tokencast", TokencastProps(config=config))


def test_an_imported_merged_api_needs_its_url_and_gets_the_publish_grant(team_stack):
    """An API made elsewhere (from_graphql_api_attributes) carries no URL: publish_through says
    so instead of failing on a missing attribute, and takes the URL as an argument."""
    from aws_cdk import aws_appsync as appsync

    stack, tokencast = team_stack
    merged = appsync.GraphqlApi.from_graphql_api_attributes(stack, "Merged", graphql_api_id="merged123")
    with pytest.raises(ValueError, match="pass graphql_url="):
        tokencast.publish_through(merged)
    url = "https://merged123.appsync-api.eu-west-1.amazonaws.com/graphql"
    tokencast.publish_through(merged, graphql_url=url)
    from aws_cdk.assertions import Match, Template

    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambdas.process.handler",
            "Environment": {"Variables": Match.object_like({"TOKENCAST_GRAPHQL_URL": url})},
        },
    )
    publish = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert "merged123/types/Mutation/fields/publishToken" in publish


def test_outputs_go_on_the_stack_itself(team_stack):
    """Under any other construct an output's id gains a path and a hash, and the CLI reads them by key."""
    stack, tokencast = team_stack
    with pytest.raises(TypeError, match="needs the Stack"):
        tokencast.add_outputs(tokencast)

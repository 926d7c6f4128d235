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

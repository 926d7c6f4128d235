"""Least privilege, proven on the template: each role holds exactly the grants listed here."""

from __future__ import annotations

import json

import pytest
from infra_helpers import (
    DEFAULT_STACK,
    DEV_STACK,
    function_id,
    grants,
    one,
    resources,
    role_of,
    role_statements,
    triples,
)

LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
BEDROCK = ("bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel")
SQS_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)
PUBLISH_TOKEN_ARN = (
    "arn:<AWS::Partition>:appsync:<AWS::Region>:<AWS::AccountId>:apis/<{api}.ApiId>/types/Mutation/fields/publishToken"
)


class Ids:
    def __init__(self, template):
        self.t = template
        self.table = one(template, "AWS::DynamoDB::Table")
        queues = resources(template, "AWS::SQS::Queue")
        self.jobs = next(k for k, v in queues.items() if "RedrivePolicy" in v["Properties"])
        self.dlq = next(k for k in queues if k != self.jobs)
        self.api = one(template, "AWS::AppSync::GraphQLApi")
        self.start = function_id(template, "lambdas.start.handler")
        self.sessions = function_id(template, "lambdas.sessions.handler")
        self.process = function_id(template, "lambdas.process.handler")

    def log_group(self, fn):
        return template_ref(self.t["Resources"][fn]["Properties"]["LoggingConfig"]["LogGroup"])

    def role(self, fn):
        return role_of(self.t, fn)


def template_ref(value):
    return value["Ref"]


@pytest.fixture(scope="module", params=[DEFAULT_STACK, DEV_STACK])
def stack(request, assembly):
    return request.param, assembly.template(request.param), Ids(assembly.template(request.param))


def test_start_may_store_a_session_and_enqueue_nothing_else(stack):
    _, t, ids = stack
    expected = (
        triples(LOG_ACTIONS, f"<{ids.log_group(ids.start)}.Arn>")
        | triples(("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"), f"<{ids.table}.Arn>")
        | triples(("sqs:SendMessage",), f"<{ids.jobs}.Arn>")
    )
    assert grants(role_statements(t, ids.role(ids.start))) == expected


def test_sessions_may_read_list_and_cancel_nothing_else(stack):
    _, t, ids = stack
    expected = (
        triples(LOG_ACTIONS, f"<{ids.log_group(ids.sessions)}.Arn>")
        | triples(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"), f"<{ids.table}.Arn>")
        # listSessions: Query, on the owner index by name (not index/*), and nothing else there.
        | triples(("dynamodb:Query",), f"<{ids.table}.Arn>/index/byOwner")
    )
    assert grants(role_statements(t, ids.role(ids.sessions))) == expected


def test_only_the_sessions_function_may_read_the_owner_index(stack):
    _, t, ids = stack
    for fn in (ids.start, ids.process):
        assert not [g for g in grants(role_statements(t, ids.role(fn))) if "/index/" in g[1]]


def _bedrock_grants(ids, profiles, direct_models):
    profile_arns = [
        f"arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/{p}" for p in profiles
    ]
    out = set()
    for arn in profile_arns:
        out |= triples(BEDROCK, arn)
    for model in direct_models:
        out |= triples(BEDROCK, f"arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/{model}")
    if profiles:
        # The condition names the profiles exactly as the template spells them.
        condition = {"StringLike": {"bedrock:InferenceProfileArn": [_profile_arn_cfn(p) for p in profiles]}}
        for p in profiles:
            base = p.partition(".")[2]
            out |= triples(
                BEDROCK,
                f"arn:<AWS::Partition>:bedrock:*::foundation-model/{base}",
                json.dumps(condition, sort_keys=True, default=str),
            )
    return out


def _profile_arn_cfn(profile):
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":bedrock:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":inference-profile/{profile}",
            ],
        ]
    }


def test_process_holds_exactly_its_queue_table_publish_and_model_grants(stack, assembly):
    name, t, ids = stack
    models = assembly.configs[name].allowed_models
    profiles = [m for m in models if m.split(".")[0] in {"us", "eu", "apac", "global"}]
    direct = [m for m in models if m not in profiles]
    expected = (
        triples(LOG_ACTIONS, f"<{ids.log_group(ids.process)}.Arn>")
        | triples(SQS_CONSUME, f"<{ids.jobs}.Arn>")
        | triples(("sqs:SendMessage",), f"<{ids.dlq}.Arn>")
        | triples(
            ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"),
            f"<{ids.table}.Arn>",
        )
        | triples(("appsync:GraphQL",), PUBLISH_TOKEN_ARN.format(api=ids.api))
        | _bedrock_grants(ids, profiles, direct)
    )
    assert grants(role_statements(t, ids.role(ids.process))) == expected


def test_default_models_are_the_documented_inference_profile(assembly):
    cfg = assembly.configs[DEFAULT_STACK]
    assert cfg.allowed_models == ("us.anthropic.claude-haiku-4-5-20251001-v1:0",)


def test_only_the_worker_may_call_appsync_and_only_publish_token(stack):
    _, t, ids = stack
    holders = {}
    for role in resources(t, "AWS::IAM::Role"):
        for action, resource, _ in grants(role_statements(t, role)):
            if action.startswith("appsync:"):
                holders.setdefault(role, set()).add((action, resource))
    assert holders == {ids.role(ids.process): {("appsync:GraphQL", PUBLISH_TOKEN_ARN.format(api=ids.api))}}


def test_only_the_worker_may_invoke_bedrock(stack):
    _, t, ids = stack
    roles = {
        role
        for role in resources(t, "AWS::IAM::Role")
        for action, _, _ in grants(role_statements(t, role))
        if action.startswith("bedrock:")
    }
    assert roles == {ids.role(ids.process)}


def test_appsync_data_source_roles_invoke_only_their_function(stack):
    _, t, ids = stack
    sources = resources(t, "AWS::AppSync::DataSource")
    lambda_sources = {k: v for k, v in sources.items() if v["Properties"]["Type"] == "AWS_LAMBDA"}
    assert len(lambda_sources) == 2
    for source in lambda_sources.values():
        fn = source["Properties"]["LambdaConfig"]["LambdaFunctionArn"]["Fn::GetAtt"][0]
        role = source["Properties"]["ServiceRoleArn"]["Fn::GetAtt"][0]
        assert grants(role_statements(t, role)) == triples(("lambda:InvokeFunction",), f"<{fn}.Arn>") | triples(
            ("lambda:InvokeFunction",), f"<{fn}.Arn>:*"
        )


def test_no_role_has_managed_policies_or_star_grants(stack):
    _, t, _ = stack
    for role_id, role in resources(t, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], role_id
        for action, resource, _ in grants(role_statements(t, role_id)):
            assert "*" not in action, (role_id, action)
            assert resource != "*", (role_id, action)


def test_each_function_has_its_own_role(stack):
    _, t, ids = stack
    assert len({ids.role(f) for f in (ids.start, ids.sessions, ids.process)}) == 3

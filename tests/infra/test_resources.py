"""The data plane: table, queues, functions, the worker's event source, alarms, Cognito, outputs."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from infra_helpers import DEFAULT_STACK, DEV_STACK, EXISTING_POOL_ID, function_id, one, resources

from tokencast.config import Limits, Settings
from tokencast.resolvers import ResolverMap

# -- DynamoDB ------------------------------------------------------------------------------


def test_table_contract_on_demand_ttl_and_pitr(default_template):
    default_template.resource_count_is("AWS::DynamoDB::Table", 1)
    default_template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": Match.array_with(
                    [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ]
                ),
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "DeletionProtectionEnabled": True,
                "ProvisionedThroughput": Match.absent(),
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_owner_index_is_the_one_the_local_stack_creates(default_template):
    """listSessions' index: one definition (tokencast.core.store) for the cloud and moto."""
    from tokencast.core.store import table_definition

    local = table_definition("t")
    table = default_template.to_json()["Resources"][one(default_template.to_json(), "AWS::DynamoDB::Table")]
    cloud = table["Properties"]
    assert cloud["GlobalSecondaryIndexes"] == local["GlobalSecondaryIndexes"]
    assert sorted(cloud["AttributeDefinitions"], key=str) == sorted(local["AttributeDefinitions"], key=str)
    (index,) = cloud["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byOwner"
    assert index["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "createdAt", "KeyType": "RANGE"},
    ]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"


def test_table_key_names_match_the_core_store():
    from cdk import storage
    from tokencast.core import store

    assert (storage.PARTITION_KEY, storage.SORT_KEY, storage.TTL_ATTRIBUTE) == (store.PK, store.SK, store.TTL_ATTRIBUTE)


def test_destroy_removal_policy_is_opt_in(dev_template):
    dev_template.has_resource(
        "AWS::DynamoDB::Table",
        {"DeletionPolicy": "Delete", "Properties": {"DeletionProtectionEnabled": False}},
    )


# -- SQS -----------------------------------------------------------------------------------


def _queues(template):
    qs = resources(template, "AWS::SQS::Queue")
    jobs = next(k for k, v in qs.items() if "RedrivePolicy" in v["Properties"])
    dlq = next(k for k in qs if k != jobs)
    return qs, jobs, dlq


@pytest.mark.parametrize("stack,receives", [(DEFAULT_STACK, 3), (DEV_STACK, 5)])
def test_jobs_queue_redrives_to_the_dlq_after_max_attempts(assembly, stack, receives):
    qs, jobs, dlq = _queues(assembly.template(stack))
    assert len(qs) == 2
    props = qs[jobs]["Properties"]
    assert props["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}, "maxReceiveCount": receives}
    assert assembly.configs[stack].max_attempts == receives


def test_queues_are_encrypted_and_dlq_keeps_jobs_14_days(default_template, assembly):
    qs, jobs, dlq = _queues(assembly.template(DEFAULT_STACK))
    for q in qs.values():
        assert q["Properties"]["SqsManagedSseEnabled"] is True
    assert qs[dlq]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    # Lambda requires visibility >= function timeout (300 s by default).
    assert qs[jobs]["Properties"]["VisibilityTimeout"] == 360


def test_queues_refuse_non_tls_requests(assembly):
    t = assembly.template(DEFAULT_STACK)
    _, jobs, dlq = _queues(t)
    protected = set()
    for policy in resources(t, "AWS::SQS::QueuePolicy").values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                st["Effect"] == "Deny"
                and st["Action"] == "sqs:*"
                and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                and st["Principal"] == {"AWS": "*"}
            ):
                protected |= {q["Ref"] for q in policy["Properties"]["Queues"]}
    assert protected == {jobs, dlq}


# -- Lambda --------------------------------------------------------------------------------


def test_one_arm64_python312_function_per_declared_handler(default_template, assembly):
    declared = {spec.handler for spec in ResolverMap.load().functions.values()}
    fns = resources(assembly.template(DEFAULT_STACK), "AWS::Lambda::Function")
    assert {f["Properties"]["Handler"] for f in fns.values()} == declared
    for f in fns.values():
        assert f["Properties"]["Runtime"] == "python3.12"
        assert f["Properties"]["Architectures"] == ["arm64"]
        assert "LogGroup" in f["Properties"]["LoggingConfig"]


def test_worker_timeout_and_memory(assembly):
    t = assembly.template(DEFAULT_STACK)
    process = t["Resources"][function_id(t, "lambdas.process.handler")]["Properties"]
    assert (process["Timeout"], process["MemorySize"]) == (300, 512)
    for handler in ("lambdas.start.handler", "lambdas.sessions.handler"):
        props = t["Resources"][function_id(t, handler)]["Properties"]
        assert props["Timeout"] <= 30  # AppSync gives a resolver 30 s


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_function_environment_is_settings_and_limits_to_env(assembly, stack):
    t = assembly.template(stack)
    cfg = assembly.configs[stack]
    table = one(t, "AWS::DynamoDB::Table")
    _, jobs, dlq = _queues(t)
    api = one(t, "AWS::AppSync::GraphQLApi")
    expected_static = {
        k: v
        for k, v in {**cfg.settings().to_env(), **cfg.limits.to_env()}.items()
        if k not in {"TOKENCAST_TABLE_NAME", "TOKENCAST_REGION"}
    }
    for name in ("start", "sessions", "process"):
        env = t["Resources"][function_id(t, f"lambdas.{name}.handler")]["Properties"]["Environment"]["Variables"]
        for key, value in expected_static.items():
            assert env[key] == value, key
        assert env["TOKENCAST_TABLE_NAME"] == {"Ref": table}
        assert env["TOKENCAST_JOBS_QUEUE_URL"] == {"Ref": jobs}
        assert env["TOKENCAST_DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq}
        assert env["TOKENCAST_GRAPHQL_URL"] == {"Fn::GetAtt": [api, "GraphQLUrl"]}
        assert env["TOKENCAST_REGION"] == {"Ref": "AWS::Region"}
        assert env["POWERTOOLS_SERVICE_NAME"] == f"tokencast-{name}"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "tokencast"
        assert env["POWERTOOLS_LOG_LEVEL"] == cfg.log_level
        assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
        # Every variable is one the runtime reads: nothing stale, nothing misspelled.
        known = {f"TOKENCAST_{f.upper()}" for f in (*Settings.model_fields, *Limits.model_fields)}
        assert {k for k in env if k.startswith("TOKENCAST_")} <= known


def test_context_reaches_the_functions(assembly):
    env = assembly.template(DEV_STACK)["Resources"][
        function_id(assembly.template(DEV_STACK), "lambdas.process.handler")
    ]["Properties"]["Environment"]["Variables"]
    assert env["TOKENCAST_ALLOWED_MODELS"] == "eu.anthropic.claude-haiku-4-5-20251001-v1:0,amazon.nova-micro-v1:0"
    assert env["TOKENCAST_DEFAULT_MODEL"] == "amazon.nova-micro-v1:0"
    assert env["TOKENCAST_MAX_TOKENS"] == "2048"
    assert env["TOKENCAST_MAX_PROMPT_CHARS"] == "10000"
    assert env["TOKENCAST_FLUSH_WINDOW_MS"] == "80"
    assert env["TOKENCAST_MAX_ATTEMPTS"] == "5"
    assert env["TOKENCAST_SESSION_TTL_DAYS"] == "10"
    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"


@pytest.mark.parametrize("stack,days", [(DEFAULT_STACK, 7), (DEV_STACK, 14)])
def test_log_groups_have_retention(assembly, stack, days):
    groups = resources(assembly.template(stack), "AWS::Logs::LogGroup")
    assert len(groups) == 4  # three functions + the API
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {days}


def test_no_custom_resource_lambdas(assembly):
    for stack in (DEFAULT_STACK, DEV_STACK):
        t = assembly.template(stack)
        assert len(resources(t, "AWS::Lambda::Function")) == 3
        assert not [k for k, v in t["Resources"].items() if v["Type"].startswith("Custom::")]


# -- the worker's event source ---------------------------------------------------------------


@pytest.mark.parametrize("stack,concurrency", [(DEFAULT_STACK, 10), (DEV_STACK, 25)])
def test_event_source_one_job_per_invocation_with_partial_failures_and_a_cap(assembly, stack, concurrency):
    t = assembly.template(stack)
    _, jobs, _ = _queues(t)
    mappings = resources(t, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    props = next(iter(mappings.values()))["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [jobs, "Arn"]}
    assert props["FunctionName"] == {"Ref": function_id(t, "lambdas.process.handler")}
    assert props["BatchSize"] == 1
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": concurrency}
    assert "MaximumBatchingWindowInSeconds" not in props


# -- alarms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_dlq_depth_and_worker_errors_alarm_to_the_topic(assembly, stack):
    t = assembly.template(stack)
    topic = one(t, "AWS::SNS::Topic")
    _, _, dlq = _queues(t)
    process = function_id(t, "lambdas.process.handler")
    alarms = {k: v["Properties"] for k, v in resources(t, "AWS::CloudWatch::Alarm").items()}
    assert len(alarms) == 2
    by_metric = {a["MetricName"]: a for a in alarms.values()}
    dlq_alarm = by_metric["ApproximateNumberOfMessagesVisible"]
    assert dlq_alarm["Namespace"] == "AWS/SQS"
    assert dlq_alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    errors = by_metric["Errors"]
    assert errors["Namespace"] == "AWS/Lambda"
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": process}}]
    for alarm in (dlq_alarm, errors):
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["OKActions"] == [{"Ref": topic}]


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(assembly):
    t = assembly.template(DEFAULT_STACK)
    topic = resources(t, "AWS::SNS::Topic")
    key_id = one(t, "AWS::KMS::Key")
    assert next(iter(topic.values()))["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key = t["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    cw = [st for st in key["KeyPolicy"]["Statement"] if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cw) == 1 and set(cw[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_cloudwatch_may_publish_to_the_ssl_only_topic(assembly):
    t = assembly.template(DEFAULT_STACK)
    [policy] = resources(t, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow[0]["Action"] == "sns:Publish"
    assert allow[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert [d["Condition"] for d in deny] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_alarm_email_is_subscribed_only_when_given(assembly):
    assert not resources(assembly.template(DEFAULT_STACK), "AWS::SNS::Subscription")
    subs = resources(assembly.template(DEV_STACK), "AWS::SNS::Subscription")
    assert [s["Properties"]["Protocol"] for s in subs.values()] == ["email"]
    assert [s["Properties"]["Endpoint"] for s in subs.values()] == ["oncall@example.com"]


# -- Cognito ---------------------------------------------------------------------------------


def test_new_user_pool_is_admin_provisioned_with_a_strong_password_policy(default_template):
    default_template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                }
            },
            "MfaConfiguration": "OPTIONAL",
        },
    )
    client = next(iter(resources(default_template.to_json(), "AWS::Cognito::UserPoolClient").values()))["Properties"]
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    for oauth in ("AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs"):
        assert oauth not in client, oauth  # no hosted-UI grants, no example.com callback


def test_existing_user_pool_gets_a_client_and_backs_the_api(assembly):
    t = assembly.template(DEV_STACK)
    assert not resources(t, "AWS::Cognito::UserPool")
    client = next(iter(resources(t, "AWS::Cognito::UserPoolClient").values()))
    assert client["Properties"]["UserPoolId"] == EXISTING_POOL_ID
    api = next(iter(resources(t, "AWS::AppSync::GraphQLApi").values()))["Properties"]
    assert api["UserPoolConfig"]["UserPoolId"] == EXISTING_POOL_ID
    assert t["Outputs"]["UserPoolId"]["Value"] == EXISTING_POOL_ID


# -- outputs (read by `tokencast ... --stack NAME`) ------------------------------------------

OUTPUTS = {
    "GraphQLUrl",
    "RealtimeUrl",
    "ApiId",
    "Region",
    "UserPoolId",
    "UserPoolClientId",
    "JobsQueueUrl",
    "DeadLetterQueueUrl",
    "TableName",
    "AlarmTopicArn",
}


def test_stack_outputs_default(assembly):
    t = assembly.template(DEFAULT_STACK)
    assert set(t["Outputs"]) == OUTPUTS
    api = one(t, "AWS::AppSync::GraphQLApi")
    _, jobs, dlq = _queues(t)
    assert t["Outputs"]["GraphQLUrl"]["Value"] == {"Fn::GetAtt": [api, "GraphQLUrl"]}
    assert t["Outputs"]["RealtimeUrl"]["Value"] == {"Fn::GetAtt": [api, "RealtimeUrl"]}
    assert t["Outputs"]["JobsQueueUrl"]["Value"] == {"Ref": jobs}
    assert t["Outputs"]["DeadLetterQueueUrl"]["Value"] == {"Ref": dlq}
    assert t["Outputs"]["TableName"]["Value"] == {"Ref": one(t, "AWS::DynamoDB::Table")}
    assert t["Outputs"]["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert all("Export" not in o for o in t["Outputs"].values())  # no cross-stack coupling


def test_stack_outputs_with_api_key(assembly):
    t = assembly.template(DEV_STACK)
    assert set(t["Outputs"]) == OUTPUTS | {"ApiKeyId"}
    key = one(t, "AWS::AppSync::ApiKey")
    assert t["Outputs"]["ApiKeyId"]["Value"] == {"Fn::GetAtt": [key, "ApiKeyId"]}


def test_outputs_contain_no_secrets(assembly):
    text = json.dumps(assembly.template(DEFAULT_STACK)["Outputs"])
    assert "ApiKey" not in text and "Secret" not in text

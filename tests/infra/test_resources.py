"""The data plane: table, queues, functions, the worker's event source, alarms, Cognito, outputs."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from infra_helpers import DEFAULT_STACK, DEV_STACK, EXISTING_POOL_ID, function_id, one, resources

from tokencast.config import Limits, Quotas, Settings
from tokencast.core.jobs import DLQ_RETENTION_S
from tokencast.metrics import NAMESPACE, PipelineMetric, service_name
from tokencast.outputs import StackOutput
from tokencast.resolvers import GRAPHQL_DIR, ResolverMap

ROOT = GRAPHQL_DIR.parent

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
    """listSessions' index: one definition (tokencast.core.table) for the cloud and moto."""
    from tokencast.core.table import table_definition

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


def test_table_key_names_match_the_core_table_layout():
    from cdk import storage
    from tokencast.core import table

    assert (storage.PARTITION_KEY, storage.SORT_KEY, storage.TTL_ATTRIBUTE) == (table.PK, table.SK, table.TTL_ATTRIBUTE)


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


def _process_settings(template) -> Settings:
    """The Settings the deployed process function reads (its environment, resource refs dropped)."""
    process = function_id(template, "lambdas.process.handler")
    env = template["Resources"][process]["Properties"]["Environment"]["Variables"]
    return Settings.from_env({k: v for k, v in env.items() if isinstance(v, str)})


@pytest.mark.parametrize("stack,attempts", [(DEFAULT_STACK, 3), (DEV_STACK, 5)])
def test_redrive_is_a_backstop_strictly_above_the_workers_own_limit(assembly, stack, attempts):
    """Template and worker tied together: the worker the template configures dead-letters a job
    itself on receive max_attempts + 1 (FAILED event, reason); SQS's redrive only comes later."""
    t = assembly.template(stack)
    qs, jobs, dlq = _queues(t)
    assert len(qs) == 2
    worker = _process_settings(t)
    assert worker.max_attempts == attempts == assembly.configs[stack].max_attempts
    receives = qs[jobs]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    assert qs[jobs]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    assert receives == worker.redrive_max_receive_count > worker.max_attempts + 1


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_crashed_jobs_come_back_within_a_minute_and_the_queue_still_covers_the_function(assembly, stack):
    t = assembly.template(stack)
    qs, jobs, _ = _queues(t)
    worker = _process_settings(t)
    process = function_id(t, "lambdas.process.handler")
    timeout = t["Resources"][process]["Properties"]["Timeout"]
    queue_visibility = qs[jobs]["Properties"]["VisibilityTimeout"]
    assert queue_visibility >= timeout  # Lambda refuses the event source otherwise
    assert queue_visibility == worker.queue_visibility_timeout_s and timeout == worker.worker_timeout_s
    # The heartbeat keeps a streaming job's own visibility short, and a failed one is released
    # with a short backoff: a crashed job is back at the model within a minute.
    assert worker.visibility_timeout_s <= 60
    assert worker.release_visibility_s <= 10


def test_dlq_is_retained_in_retain_mode_and_destroyed_only_in_destroy_mode(assembly):
    for stack, policy in ((DEFAULT_STACK, "Retain"), (DEV_STACK, "Delete")):
        qs, _, dlq = _queues(assembly.template(stack))
        assert qs[dlq]["DeletionPolicy"] == policy and qs[dlq]["UpdateReplacePolicy"] == policy, stack


def test_queues_are_encrypted_and_dlq_keeps_jobs_14_days(default_template, assembly):
    qs, jobs, dlq = _queues(assembly.template(DEFAULT_STACK))
    for q in qs.values():
        assert q["Properties"]["SqsManagedSseEnabled"] is True
    assert qs[dlq]["Properties"]["MessageRetentionPeriod"] == DLQ_RETENTION_S
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
def test_function_environment_is_settings_limits_and_quotas_to_env(assembly, stack):
    """The start function enforces the quotas, the process function frees their slots: both
    (and every function) read the same Quotas, from the same variables."""
    t = assembly.template(stack)
    cfg = assembly.configs[stack]
    table = one(t, "AWS::DynamoDB::Table")
    _, jobs, dlq = _queues(t)
    api = one(t, "AWS::AppSync::GraphQLApi")
    expected_static = {
        k: v
        for k, v in {**cfg.settings().to_env(), **cfg.limits.to_env(), **cfg.quotas.to_env()}.items()
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
        assert env["POWERTOOLS_SERVICE_NAME"] == service_name(name)
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
        assert env["POWERTOOLS_LOG_LEVEL"] == cfg.log_level
        assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
        # Every variable is one the runtime reads: nothing stale, nothing misspelled.
        known = {model.env_name(field) for model in (Settings, Limits, Quotas) for field in model.model_fields}
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
def test_alarms_cover_dlq_depth_job_age_every_function_and_appsync_5xx(assembly, stack):
    t = assembly.template(stack)
    topic = one(t, "AWS::SNS::Topic")
    _, jobs, dlq = _queues(t)
    api = one(t, "AWS::AppSync::GraphQLApi")
    alarms = [v["Properties"] for v in resources(t, "AWS::CloudWatch::Alarm").values()]
    by_metric: dict[str, list] = {}
    for alarm in alarms:
        by_metric.setdefault(alarm["MetricName"], []).append(alarm)

    [depth] = by_metric["ApproximateNumberOfMessagesVisible"]
    assert depth["Namespace"] == "AWS/SQS" and depth["Threshold"] == 1
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]

    [age] = by_metric["ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [jobs, "QueueName"]}}]
    assert age["Threshold"] == 2 * _process_settings(t).worker_timeout_s  # far below the 4-day retention

    functions = {function_id(t, spec.handler) for spec in ResolverMap.load().functions.values()}
    errors = by_metric["Errors"]
    assert {a["Dimensions"][0]["Value"]["Ref"] for a in errors} == functions
    assert all(a["Namespace"] == "AWS/Lambda" and a["Threshold"] == 1 for a in errors)

    [server] = by_metric["5XXError"]
    assert server["Namespace"] == "AWS/AppSync"
    assert server["Dimensions"] == [{"Name": "GraphQLAPIId", "Value": {"Fn::GetAtt": [api, "ApiId"]}}]

    assert len(alarms) == 3 + len(functions)
    for alarm in alarms:
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["OKActions"] == [{"Ref": topic}]


def test_dashboard_charts_the_pipeline_metrics_the_worker_emits(assembly):
    t = assembly.template(DEFAULT_STACK)
    [dashboard] = resources(t, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (*PipelineMetric, "ApproximateNumberOfMessagesVisible", "5XXError"):
        assert metric in body, metric
    assert f'\\"{NAMESPACE}\\"' in body and f'\\"{service_name("process")}\\"' in body
    emitted = (ROOT / "lambdas" / "process.py").read_text()
    for metric in PipelineMetric:
        assert f"name=PipelineMetric.{metric.name}" in emitted, f"lambdas/process.py does not emit {metric}"


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_every_function_is_traced_with_xray(assembly, stack):
    t = assembly.template(stack)
    for spec in ResolverMap.load().functions.values():
        props = t["Resources"][function_id(t, spec.handler)]["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}, spec.handler
        assert (ROOT / (spec.handler.rpartition(".")[0].replace(".", "/") + ".py")).read_text().count(
            "@tracer.capture_lambda_handler"
        ) == 1, spec.handler


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
    assert t["Outputs"][StackOutput.USER_POOL_ID]["Value"] == EXISTING_POOL_ID


# -- outputs (read by `tokencast ... --stack NAME`) ------------------------------------------

#: every key the stack declares (tokencast/outputs.py), the API key's only when one is enabled
OUTPUTS = {key.value for key in StackOutput} - {StackOutput.API_KEY_ID}


def test_stack_outputs_default(assembly):
    t = assembly.template(DEFAULT_STACK)
    assert set(t["Outputs"]) == OUTPUTS
    api = one(t, "AWS::AppSync::GraphQLApi")
    _, jobs, dlq = _queues(t)
    assert t["Outputs"][StackOutput.GRAPHQL_URL]["Value"] == {"Fn::GetAtt": [api, "GraphQLUrl"]}
    assert t["Outputs"][StackOutput.REALTIME_URL]["Value"] == {"Fn::GetAtt": [api, "RealtimeUrl"]}
    assert t["Outputs"][StackOutput.JOBS_QUEUE_URL]["Value"] == {"Ref": jobs}
    assert t["Outputs"][StackOutput.DEAD_LETTER_QUEUE_URL]["Value"] == {"Ref": dlq}
    assert t["Outputs"][StackOutput.TABLE_NAME]["Value"] == {"Ref": one(t, "AWS::DynamoDB::Table")}
    assert t["Outputs"][StackOutput.REGION]["Value"] == {"Ref": "AWS::Region"}
    assert all("Export" not in o for o in t["Outputs"].values())  # no cross-stack coupling


def test_stack_outputs_with_api_key(assembly):
    t = assembly.template(DEV_STACK)
    assert set(t["Outputs"]) == OUTPUTS | {StackOutput.API_KEY_ID}
    key = one(t, "AWS::AppSync::ApiKey")
    assert t["Outputs"][StackOutput.API_KEY_ID]["Value"] == {"Fn::GetAtt": [key, "ApiKeyId"]}


def test_outputs_contain_no_secrets(assembly):
    text = json.dumps(assembly.template(DEFAULT_STACK)["Outputs"])
    assert "ApiKey" not in text and "Secret" not in text

"""The AppSync API: auth modes, logging, the deployed schema, and the declared resolvers."""

from __future__ import annotations

import pytest
from infra_helpers import DEFAULT_STACK, DEV_STACK, function_id, one, resources

from cdk.api import schema_definition
from graphql import parse
from tokencast.config import ApiLimits
from tokencast.local.appsync.schema import appsync_violations
from tokencast.resolvers import GRAPHQL_DIR, SCHEMA_PATH, ResolverMap

ROOT = GRAPHQL_DIR.parent


def _api(template):
    return next(iter(resources(template, "AWS::AppSync::GraphQLApi").values()))["Properties"]


def test_cognito_default_iam_additional_and_no_api_key_by_default(assembly):
    t = assembly.template(DEFAULT_STACK)
    api = _api(t)
    assert api["AuthenticationType"] == "AMAZON_COGNITO_USER_POOLS"
    assert api["UserPoolConfig"]["UserPoolId"] == {"Ref": one(t, "AWS::Cognito::UserPool")}
    assert api["UserPoolConfig"]["DefaultAction"] == "ALLOW"
    assert api["AdditionalAuthenticationProviders"] == [{"AuthenticationType": "AWS_IAM"}]
    assert not resources(t, "AWS::AppSync::ApiKey")


def test_api_key_mode_and_key_only_with_context(assembly):
    t = assembly.template(DEV_STACK)
    api = _api(t)
    assert api["AdditionalAuthenticationProviders"] == [
        {"AuthenticationType": "AWS_IAM"},
        {"AuthenticationType": "API_KEY"},
    ]
    keys = resources(t, "AWS::AppSync::ApiKey")
    assert len(keys) == 1
    assert next(iter(keys.values()))["Properties"]["ApiId"] == {
        "Fn::GetAtt": [one(t, "AWS::AppSync::GraphQLApi"), "ApiId"]
    }


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_field_logs_are_error_only_without_verbose_content(assembly, stack):
    t = assembly.template(stack)
    log_config = _api(t)["LogConfig"]
    assert log_config["FieldLogLevel"] == "ERROR"
    assert log_config["ExcludeVerboseContent"] is True
    role = log_config["CloudWatchLogsRoleArn"]["Fn::GetAtt"][0]
    assert t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "appsync.amazonaws.com"
    }
    assert _api(t)["XrayEnabled"] is True  # X-Ray tracing of requests and resolvers


def test_api_log_group_is_the_one_appsync_writes_to(assembly):
    t = assembly.template(DEFAULT_STACK)
    api = one(t, "AWS::AppSync::GraphQLApi")
    names = [g["Properties"].get("LogGroupName") for g in resources(t, "AWS::Logs::LogGroup").values()]
    assert {"Fn::Join": ["", ["/aws/appsync/apis/", {"Fn::GetAtt": [api, "ApiId"]}]]} in names


def _definition(template):
    return next(iter(resources(template, "AWS::AppSync::GraphQLSchema").values()))["Properties"]["Definition"]


def test_deployed_schema_is_the_file_with_api_key_directives_removed_when_off(assembly):
    text = SCHEMA_PATH.read_text()
    deployed = _definition(assembly.template(DEFAULT_STACK))
    assert "@aws_api_key" not in deployed
    assert deployed == schema_definition(text, api_key_enabled=False)
    # The only change: removing the directive from the file gives the deployed text.
    assert deployed == text.replace(" @aws_api_key", "")
    assert "@aws_iam" in deployed and "@aws_cognito_user_pools" in deployed


def test_deployed_schema_is_the_file_verbatim_with_api_key(assembly):
    assert _definition(assembly.template(DEV_STACK)) == SCHEMA_PATH.read_text()


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_deployed_schema_passes_appsyncs_documented_schema_rules(assembly, stack):
    """What AppSync would refuse (enum-value descriptions, custom scalars ...) never deploys."""
    assert appsync_violations(parse(_definition(assembly.template(stack)))) == []


def test_publish_token_is_iam_only_in_the_deployed_schema(assembly):
    from graphql import parse

    for stack in (DEFAULT_STACK, DEV_STACK):
        doc = parse(_definition(assembly.template(stack)))
        mutation = next(d for d in doc.definitions if getattr(d, "name", None) and d.name.value == "Mutation")
        field = next(f for f in mutation.fields if f.name.value == "publishToken")
        assert [d.name.value for d in field.directives] == ["aws_iam"]


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_every_declared_field_has_its_resolver_and_data_source(assembly, stack):
    t = assembly.template(stack)
    declaration = ResolverMap.load()
    sources = {
        v["Properties"]["Name"]: (k, v["Properties"]) for k, v in resources(t, "AWS::AppSync::DataSource").items()
    }
    assert set(sources) == set(declaration.data_sources)
    for name, spec in declaration.data_sources.items():
        _, props = sources[name]
        assert props["Type"] == spec.type.value
        if spec.function:
            handler = declaration.functions[spec.function].handler
            assert props["LambdaConfig"]["LambdaFunctionArn"] == {"Fn::GetAtt": [function_id(t, handler), "Arn"]}

    deployed = {
        f"{r['Properties']['TypeName']}.{r['Properties']['FieldName']}": r["Properties"]
        for r in resources(t, "AWS::AppSync::Resolver").values()
    }
    assert set(deployed) == set(declaration.resolvers)
    for key, spec in declaration.resolvers.items():
        props = deployed[key]
        assert props["DataSourceName"] == spec.data_source
        assert props["Kind"] == "UNIT"
        # Every resolver runs its APPSYNC_JS, Lambda ones included (invokeLambda.js raises the
        # handler's typed errors with util.error): no direct Lambda resolver is left.
        assert props["Runtime"] == {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"}, key
        assert props["Code"] == (ROOT / spec.code).read_text()  # the exact file the parity test runs
        for absent in ("RequestMappingTemplate", "ResponseMappingTemplate"):
            assert absent not in props, (key, absent)


@pytest.mark.parametrize("stack", [DEFAULT_STACK, DEV_STACK])
def test_query_depth_resolver_count_and_introspection_are_the_emulators_limits(assembly, stack):
    """One source: the template's limits are the ApiLimits the emulator enforces."""
    api = _api(assembly.template(stack))
    limits = assembly.configs[stack].api_limits
    assert api["QueryDepthLimit"] == limits.query_depth_limit
    assert api["ResolverCountLimit"] == limits.resolver_count_limit
    assert api["IntrospectionConfig"] == "DISABLED"
    assert limits == ApiLimits()  # the defaults `tokencast up` runs with


def test_user_pool_tokens_only_from_this_stacks_app_client(assembly):
    for stack in (DEFAULT_STACK, DEV_STACK):
        t = assembly.template(stack)
        client = one(t, "AWS::Cognito::UserPoolClient")
        config = _api(t)["UserPoolConfig"]
        assert config["AppIdClientRegex"] == {"Fn::Join": ["", ["^", {"Ref": client}, "$"]]}, stack


def test_subscription_resolver_sets_the_access_filter(assembly):
    t = assembly.template(DEFAULT_STACK)
    sub = next(
        r["Properties"]
        for r in resources(t, "AWS::AppSync::Resolver").values()
        if r["Properties"]["FieldName"] == "onTokenReceived"
    )
    code = sub["Code"]
    assert "extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(" in code
    assert "owner: { eq: principal }" in code and "visibility: { eq: 'SHARED' }" in code
    assert "sessionId: { eq: sessionId }" in code

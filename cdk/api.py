"""The AppSync GraphQL API: the schema, its auth modes, its logs, and the declared resolvers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import jsii
from aws_cdk import Acknowledgment, ArnFormat, CfnOutput, RemovalPolicy, Stack, Validations
from aws_cdk import aws_appsync as appsync
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.interfaces.aws_appsync import IGraphQLApiRef
from constructs import Construct

from cdk.auth import UserAuth
from cdk.nag import acknowledge_iam5
from tokencast.config import ApiLimits
from tokencast.outputs import StackOutput
from tokencast.resolvers import GRAPHQL_DIR, SCHEMA_PATH, DataSourceType, ResolverMap

#: The repository root: resolver ``code`` paths in resolvers.json are relative to it.
ROOT = GRAPHQL_DIR.parent

_API_KEY_DIRECTIVE = re.compile(r"[ \t]*@aws_api_key\b")


def schema_definition(schema_text: str, *, api_key_enabled: bool) -> str:
    """The schema AppSync receives: graphql/schema.graphql, minus ``@aws_api_key`` when off.

    Why strip: the schema grants API-key access on client fields for the dev stack, but the
    production API has no API_KEY mode. Whether AppSync rejects a directive for an auth mode the
    API does not have is not something we can test from here; removing the directive makes the
    deployed schema valid and unambiguous either way, and it is the only change (the test suite
    checks that). API-key callers are then refused by AppSync itself, before any resolver runs.
    """
    if api_key_enabled:
        return schema_text
    return _API_KEY_DIRECTIVE.sub("", schema_text)


@jsii.implements(appsync.ISchemaConfig)
class _SchemaConfig:
    # Properties, not plain attributes: jsii only serves class-level properties to JavaScript.
    # The setters complete the interface (its members are read/write); CDK never calls them.
    def __init__(self, api_id: str, definition: str) -> None:
        self._api_id = api_id
        self._definition = definition

    @property
    def api_id(self) -> str:
        return self._api_id

    @api_id.setter
    def api_id(self, value: str) -> None:
        self._api_id = value

    @property
    def definition(self) -> str:
        return self._definition

    @definition.setter
    def definition(self, value: str) -> None:
        self._definition = value


@jsii.implements(appsync.ISchema)
class SchemaText:
    """An ``ISchema`` from a string (``SchemaFile`` only takes a path)."""

    def __init__(self, definition: str) -> None:
        self.definition = definition

    def bind(self, api: IGraphQLApiRef, *args: object, **kwargs: object) -> appsync.ISchemaConfig:
        # ISchema types ``api`` as the bare reference, which carries only the ARN; the API that
        # binds a schema is the GraphqlApi being constructed, and its id is what AppSync needs.
        if not isinstance(api, appsync.GraphqlApiBase):
            raise TypeError(f"SchemaText binds to a GraphqlApi, got {type(api).__name__}")
        return _SchemaConfig(api.api_id, self.definition)


def _cfn_api(api: appsync.GraphqlApi) -> appsync.CfnGraphQLApi:
    """The L1 resource under a GraphqlApi (``node.default_child`` is typed as any construct)."""
    cfn = api.node.default_child
    if not isinstance(cfn, appsync.CfnGraphQLApi):
        raise TypeError(f"{api.node.path}: expected a CfnGraphQLApi default child, got {type(cfn).__name__}")
    return cfn


@dataclass(frozen=True)
class TokencastApiProps:
    auth: UserAuth
    #: Query depth, resolver count and introspection: the same object the emulator enforces.
    limits: ApiLimits = field(default_factory=ApiLimits)
    #: Adds the API_KEY auth mode and one key (AppSync's default 7-day expiry). Dev only.
    enable_api_key: bool = False
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_WEEK
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN


class TokencastApi(Construct):
    """AppSync API from graphql/schema.graphql, with resolvers from graphql/resolvers.json.

    Limits: query depth and resolver count from :class:`tokencast.config.ApiLimits` (the
    emulator reads the same object), introspection off unless enabled; X-Ray tracing on.

    Auth: Cognito user pools by default (clients), AWS_IAM as an additional mode (the worker,
    and operators), API_KEY only when asked for. Field-level authorization lives in the schema's
    directives; ``publishToken`` is ``@aws_iam`` only and the worker role's policy is the only
    one in the stack that names its field ARN (:meth:`grant_publish`).

    Logging: field logs at ERROR with verbose content excluded, so resolver errors are visible
    but request/response bodies (prompts, tokens) and headers (JWTs) never reach CloudWatch.
    The log group is created here, named as AppSync expects, so retention is set without the
    LogRetention custom-resource Lambda, and the logging role can write to that group only.
    """

    def __init__(self, scope: Construct, id: str, props: TokencastApiProps) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)

        self.log_role = iam.Role(
            self,
            "LoggingRole",
            assumed_by=iam.ServicePrincipal("appsync.amazonaws.com"),
            description="Lets AppSync write ERROR-level field logs to the API's own log group",
        )

        additional = [appsync.AuthorizationMode(authorization_type=appsync.AuthorizationType.IAM)]
        if props.enable_api_key:
            additional.append(appsync.AuthorizationMode(authorization_type=appsync.AuthorizationType.API_KEY))

        self.api = appsync.GraphqlApi(
            self,
            "GraphqlApi",
            name=f"{stack.stack_name}-api",
            definition=appsync.Definition.from_schema(
                SchemaText(schema_definition(SCHEMA_PATH.read_text(), api_key_enabled=props.enable_api_key))
            ),
            authorization_config=appsync.AuthorizationConfig(
                default_authorization=appsync.AuthorizationMode(
                    authorization_type=appsync.AuthorizationType.USER_POOL,
                    user_pool_config=appsync.UserPoolConfig(
                        user_pool=props.auth.user_pool,
                        # Only this stack's app client: an existing pool's other clients' tokens
                        # are refused by AppSync itself.
                        app_id_client_regex=f"^{props.auth.client.user_pool_client_id}$",
                        default_action=appsync.UserPoolDefaultAction.ALLOW,
                    ),
                ),
                additional_authorization_modes=additional,
            ),
            xray_enabled=True,
            query_depth_limit=props.limits.query_depth_limit,
            resolver_count_limit=props.limits.resolver_count_limit,
            introspection_config=appsync.IntrospectionConfig.ENABLED
            if props.limits.introspection
            else appsync.IntrospectionConfig.DISABLED,
        )
        # Logging is set on the L1 resource: the L2's log_config always adds a LogRetention
        # custom resource (a Node.js Lambda with a managed-policy role) just to set retention,
        # which the LogGroup below does natively.
        cfn_api = _cfn_api(self.api)
        cfn_api.log_config = appsync.CfnGraphQLApi.LogConfigProperty(
            cloud_watch_logs_role_arn=self.log_role.role_arn,
            field_log_level="ERROR",
            exclude_verbose_content=True,
        )
        Validations.of(cfn_api).acknowledge(
            Acknowledgment(
                id="AwsSolutions-ASC3",
                reason=(
                    "Request logging is on (field level ERROR, own role and log group). The rule also "
                    "demands verbose content, which would write request/response bodies (prompts, "
                    "token text) and Authorization headers (JWTs) to CloudWatch; it stays excluded."
                ),
            )
        )

        self.api_key: appsync.CfnApiKey | None = None
        if props.enable_api_key:
            self.api_key = next(c for c in self.api.node.children if isinstance(c, appsync.CfnApiKey))

        log_group_name = f"/aws/appsync/apis/{self.api.api_id}"
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=log_group_name,
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.log_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group_arn, f"{log_group_arn}:*"],
            )
        )
        acknowledge_iam5(
            self.log_role,
            resources=[f"{log_group_arn}:*"],
            reason="AppSync names its log streams at run time; the wildcard is confined to this API's own log group.",
        )

    # -- wiring ----------------------------------------------------------------------------

    @property
    def graphql_url(self) -> str:
        return self.api.graphql_url

    @property
    def realtime_url(self) -> str:
        return _cfn_api(self.api).attr_realtime_url

    def add_resolvers(
        self, declaration: ResolverMap, functions: Mapping[str, lambda_.IFunction]
    ) -> dict[str, appsync.Resolver]:
        """One data source per declared data source, one resolver per declared field.

        Every resolver is an APPSYNC_JS unit resolver running the declared file, inlined so the
        template carries the exact code the parity tests execute. On Lambda data sources that is
        invokeLambda.js: it sends the handler the event a direct resolver would (identity
        included) and raises the handler's error answer with ``util.error``, which is the only
        way a custom ``errorType`` reaches clients.
        """
        data_sources: dict[str, appsync.BaseDataSource] = {}
        for name, source_spec in declaration.data_sources.items():
            if source_spec.type is DataSourceType.AWS_LAMBDA:
                if source_spec.function is None:  # ResolverMap refuses this; narrowed for the index
                    raise ValueError(f"dataSources.{name}: a Lambda data source names no function")
                fn = functions[source_spec.function]
                source = self.api.add_lambda_data_source(name, fn, description=f"{source_spec.function} handler")
                acknowledge_iam5(
                    source.node.find_child("ServiceRole"),
                    resources=[f"{fn.function_arn}:*"],
                    reason=(
                        "CDK's grantInvoke adds '<function ARN>:*' so AppSync may also invoke versions "
                        "and aliases of this one function; no other function is reachable."
                    ),
                )
                data_sources[name] = source
            else:
                data_sources[name] = self.api.add_none_data_source(name, description="in-AppSync passthrough")

        resolvers: dict[str, appsync.Resolver] = {}
        for key, resolver_spec in declaration.resolvers.items():
            type_name, _, field_name = key.partition(".")
            # No code: a unit resolver without runtime or code (None is the same as leaving it out).
            code = appsync.Code.from_inline((ROOT / resolver_spec.code).read_text()) if resolver_spec.code else None
            resolvers[key] = data_sources[resolver_spec.data_source].create_resolver(
                f"{type_name}{field_name[0].upper()}{field_name[1:]}Resolver",
                type_name=type_name,
                field_name=field_name,
                runtime=appsync.FunctionRuntime.JS_1_0_0 if code is not None else None,
                code=code,
            )
        return resolvers

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """``appsync:GraphQL`` on exactly ``<api arn>/types/Mutation/fields/publishToken``."""
        return self.api.grant_mutation(grantee, "publishToken")

    def add_outputs(self, stack: Stack) -> None:
        """Outputs the CLI reads with DescribeStacks (``tokencast ... --stack NAME``)."""
        CfnOutput(
            stack, StackOutput.GRAPHQL_URL, value=self.graphql_url, description="AppSync GraphQL endpoint (HTTPS)"
        )
        CfnOutput(
            stack, StackOutput.REALTIME_URL, value=self.realtime_url, description="AppSync real-time endpoint (WSS)"
        )
        CfnOutput(stack, StackOutput.API_ID, value=self.api.api_id, description="AppSync API id")
        if self.api_key is not None:
            CfnOutput(
                stack,
                StackOutput.API_KEY_ID,
                value=self.api_key.attr_api_key_id,
                description="Dev-only AppSync API key (for AppSync the key id is the key, da2-...)",
            )

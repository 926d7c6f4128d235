"""tokencast as one construct: what the stack deploys, for any CDK app to instantiate.

The whole pipeline (DESIGN.md's diagram) in one reusable piece:

client ─startStream─▶ AppSync ─invokeLambda.js─▶ start ─▶ quota ─▶ DynamoDB session (QUEUED)
                                                             └──▶ SQS jobs queue (redrive backstop)
SQS ─event source─▶ process ─ConverseStream─▶ Bedrock
    process ─publishToken (SigV4, IAM only)─▶ AppSync ─▶ onTokenReceived subscribers
    process ─append events─▶ DynamoDB
alarms, X-Ray, dashboard

``cdk/stack.py`` is a thin stack around it. Another app instantiates it with its own
configuration and, optionally, the user pool its users already sign in to; a team with an
AppSync Merged API associates tokencast's API as a source API and has the worker publish
through the Merged API (:meth:`Tokencast.publish_through`), so their frontend keeps one
endpoint. ``examples/merged_api/`` is a worked example; docs/frontends.md explains it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_appsync as appsync
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.alarms import Alarms, AlarmsProps
from cdk.api import TokencastApi, TokencastApiProps
from cdk.auth import UserAuth, UserAuthProps
from cdk.config import TokencastConfig
from cdk.dashboard import Dashboard, DashboardProps
from cdk.functions import FunctionSizing, TokencastFunctions, TokencastFunctionsProps
from cdk.queues import JobQueues, JobQueuesProps
from cdk.storage import SessionTable, SessionTableProps
from cdk.worker import StreamWorker, StreamWorkerProps
from tokencast.config import Wiring
from tokencast.metrics import NAMESPACE as METRICS_NAMESPACE
from tokencast.outputs import StackOutput
from tokencast.resolvers import ResolverMap

#: CloudWatch Logs accepts only these retention periods (days), in RetentionDays order.
_LOG_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def log_retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch retention that keeps logs at least ``days`` days."""
    chosen = next((d for d in _LOG_RETENTION if d >= days), max(_LOG_RETENTION))
    return logs.RetentionDays[_LOG_RETENTION[chosen]]


#: the worker's setting that names the API it sends publishToken to
PUBLISH_URL_ENV = Wiring.env_name("graphql_url")


@dataclass(frozen=True)
class TokencastProps:
    config: TokencastConfig
    #: The user pool the host app's users sign in to; tokencast adds an app client to it.
    #: Without it, ``config.user_pool_id`` (an existing pool by id) or a new pool.
    user_pool: cognito.IUserPool | None = None


class Tokencast(Construct):
    """The tokencast pipeline: API, queues, sessions table, handlers, worker, alarms, dashboard.

    Attributes for the host app: ``api`` (:class:`~cdk.api.TokencastApi`; ``api.api`` is the
    ``GraphqlApi`` to associate with a Merged API), ``auth`` (user pool and app client),
    ``store``, ``queues``, ``functions``, ``alarms``.
    """

    def __init__(self, scope: Construct, id: str, props: TokencastProps) -> None:
        super().__init__(scope, id)
        config = props.config
        declaration = ResolverMap.load()
        removal = RemovalPolicy.DESTROY if config.removal_policy == "destroy" else RemovalPolicy.RETAIN
        retention = log_retention(config.retention_days)

        # Storage and the queue between the API and the model. The queue's numbers come from the
        # runtime Settings (tokencast.config), exactly as the local stack's do.
        numbers = config.settings()
        store = SessionTable(self, "Sessions", SessionTableProps(removal_policy=removal))
        queues = JobQueues(
            self,
            "Jobs",
            JobQueuesProps(
                max_receive_count=numbers.redrive_max_receive_count,
                visibility_timeout=Duration.seconds(numbers.queue_visibility_timeout_s),
                removal_policy=removal,
            ),
        )

        # Who may call, and the API they call.
        auth = UserAuth(
            self,
            "Auth",
            UserAuthProps(existing_user_pool_id=config.user_pool_id, user_pool=props.user_pool, removal_policy=removal),
        )
        api = TokencastApi(
            self,
            "Api",
            TokencastApiProps(
                auth=auth,
                limits=config.api_limits,
                enable_api_key=config.enable_api_key,
                log_retention=retention,
                removal_policy=removal,
            ),
        )

        # The handlers, configured exactly as `tokencast up` configures them locally.
        settings = config.settings(
            table_name=store.table_name,
            jobs_queue_url=queues.jobs_queue.queue_url,
            dead_letter_queue_url=queues.dead_letter_queue.queue_url,
            graphql_url=api.graphql_url,
            region=Stack.of(self).region,
        )
        environment = {
            **settings.to_env(),
            **config.limits.to_env(),
            **config.quotas.to_env(),
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",  # events carry prompts: never log them
        }
        functions = TokencastFunctions(
            self,
            "Functions",
            TokencastFunctionsProps(
                declaration=declaration,
                environment=environment,
                sizing={"process": FunctionSizing(memory_mb=512, timeout=Duration.seconds(settings.worker_timeout_s))},
                log_retention=retention,
                removal_policy=removal,
                bundle_dependencies=config.bundle_dependencies,
            ),
        )
        api.add_resolvers(declaration, functions.functions)

        # client ─startStream─▶ start: store the session (QUEUED, idempotent), enqueue the job.
        # Quotas: the owner's ledger item is read, written conditionally, and a slot released
        # (UpdateItem) when the job cannot be queued.
        store.grant(
            functions["start"], "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"
        )
        JobQueues.grant(queues.jobs_queue, functions["start"], "sqs:SendMessage")
        # getSession / getEvents / cancelStream: read the session and its events, mark it cancelled.
        store.grant(functions["sessions"], "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem")
        # listSessions: the caller's sessions, newest first, from the owner index.
        store.grant_owner_index_query(functions["sessions"])

        # SQS ─▶ process ─▶ Bedrock ─▶ publishToken ─▶ subscribers; events ─▶ DynamoDB.
        StreamWorker(
            self,
            "Worker",
            StreamWorkerProps(
                function=functions["process"],
                queues=queues,
                store=store,
                api=api,
                allowed_models=config.limits.allowed_models,
                max_concurrency=config.max_concurrency,
            ),
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            AlarmsProps(
                jobs_queue=queues.jobs_queue,
                dead_letter_queue=queues.dead_letter_queue,
                functions=functions.functions,
                api=api.api,
                job_age_threshold=Duration.seconds(2 * settings.worker_timeout_s),
                email=config.alarm_email,
                removal_policy=removal,
            ),
        )
        self.dashboard = Dashboard(
            self,
            "Dashboard",
            DashboardProps(
                jobs_queue=queues.jobs_queue,
                dead_letter_queue=queues.dead_letter_queue,
                functions=functions.functions,
                api=api.api,
            ),
        )

        self.store, self.queues, self.auth, self.api, self.functions = store, queues, auth, api, functions

    def publish_through(self, api: appsync.IGraphqlApi, *, graphql_url: str | None = None) -> iam.Grant:
        """Send the worker's ``publishToken`` to ``api`` (e.g. the Merged API tokencast's API is
        a source of) instead of tokencast's own API.

        AppSync triggers a subscription only for mutations sent to the endpoint the subscriber
        is connected to: a frontend subscribed on a Merged API receives events only when the
        worker publishes through that Merged API. Grants the worker ``appsync:GraphQL`` on the
        API's ``Mutation/publishToken`` field (the API must allow AWS_IAM, as tokencast's does).

        ``graphql_url`` is the API's endpoint; it is read from a ``GraphqlApi`` defined in the
        app, and required for an imported one (``GraphqlApi.from_graphql_api_attributes``),
        which carries no URL.
        """
        if graphql_url is None:
            if not isinstance(api, appsync.GraphqlApi):
                raise ValueError(
                    f"publish_through: {api.node.path} is not a GraphqlApi of this app, so its URL is "
                    "unknown; pass graphql_url= (the API's https://.../graphql endpoint)"
                )
            graphql_url = api.graphql_url
        self.functions["process"].add_environment(PUBLISH_URL_ENV, graphql_url)
        return api.grant_mutation(self.functions["process"], "publishToken")

    def add_outputs(self, stack: Stack) -> None:
        """The outputs `tokencast ... --stack NAME` and frontends read (DescribeStacks → Outputs).

        ``stack`` must be the Stack itself: an output's logical id is its key only directly
        under a stack (under any other construct CDK adds a path and a hash), and the CLI reads
        them by key.
        """
        if not Stack.is_stack(stack):
            raise TypeError(f"add_outputs needs the Stack, got {stack.node.path or 'the App'}")
        self.api.add_outputs(stack)
        CfnOutput(stack, StackOutput.REGION, value=Stack.of(self).region, description="Region of the stack")
        CfnOutput(
            stack, StackOutput.USER_POOL_ID, value=self.auth.user_pool.user_pool_id, description="Cognito user pool id"
        )
        CfnOutput(
            stack,
            StackOutput.USER_POOL_CLIENT_ID,
            value=self.auth.client.user_pool_client_id,
            description="Cognito app client id (public, no secret)",
        )
        CfnOutput(
            stack, StackOutput.JOBS_QUEUE_URL, value=self.queues.jobs_queue.queue_url, description="SQS jobs queue URL"
        )
        CfnOutput(
            stack,
            StackOutput.DEAD_LETTER_QUEUE_URL,
            value=self.queues.dead_letter_queue.queue_url,
            description="SQS dead-letter queue URL (tokencast dlq)",
        )
        CfnOutput(stack, StackOutput.TABLE_NAME, value=self.store.table_name, description="DynamoDB sessions table")
        CfnOutput(
            stack,
            StackOutput.ALARM_TOPIC_ARN,
            value=self.alarms.topic.topic_arn,
            description="SNS topic of the tokencast alarms",
        )

"""Alarms that page a human: jobs in the DLQ, jobs nobody picks up, any function failing, AppSync 5XX."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_appsync as appsync
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def appsync_metric(api: appsync.IGraphqlApi, name: str, statistic: str = cloudwatch.Stats.SUM) -> cloudwatch.Metric:
    """An ``AWS/AppSync`` metric of this API (``5XXError``, ``4XXError``, ``Latency`` ...)."""
    return cloudwatch.Metric(
        namespace="AWS/AppSync",
        metric_name=name,
        dimensions_map={"GraphQLAPIId": api.api_id},
        period=Duration.minutes(5),
        statistic=statistic,
    )


@dataclass(frozen=True)
class AlarmsProps:
    jobs_queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    #: Every function of the stack, by declared name: each gets an errors alarm.
    functions: Mapping[str, lambda_.IFunction]
    api: appsync.IGraphqlApi
    #: Age of the oldest job beyond which nobody is consuming the queue (a broken event source
    #: lets jobs expire after the queue's retention without ever reaching the DLQ).
    job_age_threshold: Duration
    #: Subscribed to the topic when given (the address must confirm the subscription).
    email: str | None = None
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN


class Alarms(Construct):
    """Alarms on one SNS topic.

    *Dead-letter jobs*: any message in the DLQ is a session that failed for good (permanent error
    or attempts exhausted) and is waiting for ``tokencast dlq replay``. *Oldest job age*: a job
    waiting longer than ``job_age_threshold`` means the event source is broken or far behind.
    *<function> errors*, one per function: it raised or timed out — job failures and client
    errors (typed answers) do not count, so these fire on bugs and timeouts, not on bad input or
    a model refusing a prompt. *AppSync 5XX*: the API itself failed requests.

    The topic is encrypted with a customer-managed key because CloudWatch cannot publish to a
    topic encrypted with the AWS-managed ``alias/aws/sns`` key; the key policy lets CloudWatch
    (and nothing else beyond the account's own administrators) use it.
    """

    def __init__(self, scope: Construct, id: str, props: AlarmsProps) -> None:
        super().__init__(scope, id)
        self.key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the tokencast alarm topic; usable by CloudWatch alarms",
            enable_key_rotation=True,
            removal_policy=props.removal_policy,
        )
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        # enforce_ssl gives the topic a resource policy, which replaces SNS's default "anyone in
        # this account" policy: let CloudWatch alarms of this account and region publish.
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        if props.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(props.email))
        action = cw_actions.SnsAction(self.topic)

        def alarm(
            construct_id: str, description: str, metric: cloudwatch.IMetric, threshold: float
        ) -> cloudwatch.Alarm:
            made = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            made.add_alarm_action(action)
            made.add_ok_action(action)
            return made

        self.dead_letter_alarm = alarm(
            "DeadLetterJobs",
            "Jobs are in the tokencast DLQ: list and replay them with `tokencast dlq`.",
            props.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            1,
        )
        self.job_age_alarm = alarm(
            "OldestJobAge",
            "A tokencast job has waited too long: the SQS event source is broken or far behind.",
            props.jobs_queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            props.job_age_threshold.to_seconds(),
        )
        self.function_error_alarms = {
            name: alarm(
                f"{name.capitalize()}Errors",
                f"The tokencast {name} function raised or timed out (see its log group).",
                fn.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
                1,
            )
            for name, fn in props.functions.items()
        }
        self.api_5xx_alarm = alarm(
            "Api5xx", "The tokencast AppSync API answered with 5XX errors.", appsync_metric(props.api, "5XXError"), 1
        )

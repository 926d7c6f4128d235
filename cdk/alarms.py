"""Alarms that page a human: jobs in the DLQ, and a worker that crashes or times out."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct


@dataclass(frozen=True)
class AlarmsProps:
    dead_letter_queue: sqs.IQueue
    worker: lambda_.IFunction
    #: Subscribed to the topic when given (the address must confirm the subscription).
    email: str | None = None
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN


class Alarms(Construct):
    """Two alarms on one SNS topic.

    *Dead-letter jobs*: any message in the DLQ is a session that failed for good (permanent error
    or attempts exhausted) and is waiting for ``tokencast dlq replay``. *Worker errors*: the process
    function raised or timed out — job failures are reported per item and do not count, so this
    fires on bugs and timeouts, not on a model refusing a prompt.

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

        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterJobs",
            alarm_description="Jobs are in the tokencast DLQ: list and replay them with `tokencast dlq`.",
            metric=props.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.worker_errors_alarm = cloudwatch.Alarm(
            self,
            "WorkerErrors",
            alarm_description="The tokencast process function raised or timed out (see its log group).",
            metric=props.worker.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.dead_letter_alarm, self.worker_errors_alarm):
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

"""A CloudWatch dashboard of the pipeline's own metrics, next to the AWS ones that explain them.

The process handler publishes (Powertools EMF, namespace ``tokencast``, dimension ``service``)
``TimeToFirstTokenMs`` (enqueue to the model's first token), ``TokensPerSecond``,
``EventsPerAnswer``, ``Retries`` and the job outcomes; the dashboard shows them with the jobs
queue's backlog and age, the DLQ's depth, the functions' errors and AppSync's errors and latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_appsync as appsync
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.alarms import appsync_metric
from tokencast.metrics import NAMESPACE, PipelineMetric, service_name

#: Where lambdas/process.py's metrics land (POWERTOOLS_METRICS_NAMESPACE, service dimension).
PROCESS_SERVICE = service_name("process")
#: The pipeline metrics the dashboard charts (lambdas/process.py emits each of them).
PIPELINE_METRICS = tuple(PipelineMetric)
OUTCOME_METRICS = ("JobsCompleted", "JobsCancelled", "JobsDeadLettered", "JobsRedelivered")


def pipeline_metric(name: str, statistic: str = cloudwatch.Stats.AVERAGE) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": PROCESS_SERVICE},
        period=Duration.minutes(1),
        statistic=statistic,
    )


@dataclass(frozen=True)
class DashboardProps:
    jobs_queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    functions: Mapping[str, lambda_.IFunction]
    api: appsync.IGraphqlApi


class Dashboard(Construct):
    def __init__(self, scope: Construct, id: str, props: DashboardProps) -> None:
        super().__init__(scope, id)
        minute = Duration.minutes(1)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Time to first token (ms, p50/p90)",
                left=[
                    pipeline_metric(PipelineMetric.TIME_TO_FIRST_TOKEN_MS, cloudwatch.Stats.p(50)),
                    pipeline_metric(PipelineMetric.TIME_TO_FIRST_TOKEN_MS, cloudwatch.Stats.p(90)),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Tokens per second (avg)", left=[pipeline_metric(PipelineMetric.TOKENS_PER_SECOND)]
            ),
            cloudwatch.GraphWidget(
                title="Events per answer (avg)", left=[pipeline_metric(PipelineMetric.EVENTS_PER_ANSWER)]
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Retries and outcomes (sum)",
                left=[
                    pipeline_metric(name, cloudwatch.Stats.SUM) for name in (PipelineMetric.RETRIES, *OUTCOME_METRICS)
                ],
            ),
            cloudwatch.GraphWidget(
                title="DLQ depth",
                left=[
                    props.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=minute, statistic=cloudwatch.Stats.MAXIMUM
                    )
                ],
            ),
            cloudwatch.GraphWidget(
                title="Jobs queue: backlog and oldest job (s)",
                left=[
                    props.jobs_queue.metric_approximate_number_of_messages_visible(
                        period=minute, statistic=cloudwatch.Stats.MAXIMUM
                    )
                ],
                right=[
                    props.jobs_queue.metric_approximate_age_of_oldest_message(
                        period=minute, statistic=cloudwatch.Stats.MAXIMUM
                    )
                ],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors (sum)",
                left=[
                    fn.metric_errors(period=minute, statistic=cloudwatch.Stats.SUM, label=name)
                    for name, fn in props.functions.items()
                ],
            ),
            cloudwatch.GraphWidget(
                title="AppSync errors and latency",
                left=[appsync_metric(props.api, "5XXError"), appsync_metric(props.api, "4XXError")],
                right=[appsync_metric(props.api, "Latency", cloudwatch.Stats.p(90))],
            ),
        )

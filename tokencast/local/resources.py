"""Create the local stack's table and queues in moto: the same shapes the CDK app deploys.

The queue's numbers come from :class:`tokencast.config.Settings`, as cdk/ derives them: the
worker itself dead-letters a job interrupted ``max_attempts`` times (FAILED event, reason), and
the redrive after ``Settings.redrive_max_receive_count`` receives is only the backstop, locally
exactly as on AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tokencast.config import Settings
from tokencast.core.jobs import DLQ_RETENTION_S
from tokencast.core.table import table_definition, ttl_specification


@dataclass(frozen=True)
class QueueSet:
    jobs_url: str
    jobs_arn: str
    dlq_url: str
    dlq_arn: str


def create_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(**table_definition(name))
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl_specification())


def create_queues(sqs: Any, *, prefix: str, settings: Settings) -> QueueSet:
    """The jobs queue and its DLQ with the cloud's numbers, derived from ``settings`` as
    cdk/ derives them: the queue's default visibility and the redrive ``maxReceiveCount``."""
    visibility_timeout_s = settings.queue_visibility_timeout_s
    max_receive_count = settings.redrive_max_receive_count
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-jobs-dlq", Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_S)}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    jobs_url = sqs.create_queue(
        QueueName=f"{prefix}-jobs",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    jobs_arn = sqs.get_queue_attributes(QueueUrl=jobs_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueSet(jobs_url=jobs_url, jobs_arn=jobs_arn, dlq_url=dlq_url, dlq_arn=dlq_arn)

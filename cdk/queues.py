"""The jobs queue and its dead-letter queue: the seam that decouples startStream from the model."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tokencast.core.jobs import DLQ_RETENTION_S

#: a failed job waits this long to be inspected and replayed (SQS's maximum)
DLQ_RETENTION = Duration.seconds(DLQ_RETENTION_S)


@dataclass(frozen=True)
class JobQueuesProps:
    #: Receives before SQS moves a job to the DLQ: ``Settings.redrive_max_receive_count``, a
    #: backstop strictly above the receive on which the worker dead-letters a job itself.
    max_receive_count: int
    #: Must be >= the process function's timeout (Lambda refuses the event source otherwise).
    visibility_timeout: Duration
    #: How long an unprocessed job may wait for a worker (backlog during a Bedrock outage).
    retention: Duration = Duration.days(4)  # noqa: RUF009 (a Duration is immutable)
    #: RETAIN keeps the DLQ (failed jobs waiting for replay) when the stack is deleted.
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN


class JobQueues(Construct):
    """Standard jobs queue with a redrive policy into a 14-day DLQ, both encrypted and TLS-only.

    Why standard (not FIFO): ordering lives in ``(attempt, seq)`` inside one session, and jobs of
    different sessions are independent; FIFO would cap throughput and buy nothing. Why SQS-managed
    SSE: encryption at rest with no KMS key policy for the Lambda poller to get wrong and no KMS
    request charges. ``enforce_ssl`` adds a queue policy denying any non-TLS request.
    """

    def __init__(self, scope: Construct, id: str, props: JobQueuesProps) -> None:
        super().__init__(scope, id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=props.removal_policy,
        )
        self.jobs_queue = sqs.Queue(
            self,
            "JobsQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=props.visibility_timeout,
            retention_period=props.retention,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=props.max_receive_count
            ),
        )

    @staticmethod
    def grant(queue: sqs.IQueue, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Allow exactly ``actions`` (e.g. ``sqs:SendMessage``) on one queue.

        ``Queue.grant_send_messages`` would add GetQueueAttributes/GetQueueUrl, which the
        handlers never call (they are given the URL); naming the actions keeps policies exact.
        """
        if not actions or not all(a.startswith("sqs:") and "*" not in a for a in actions):
            raise ValueError(f"name explicit sqs actions, got {actions!r}")
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[queue.queue_arn])

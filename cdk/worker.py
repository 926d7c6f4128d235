"""The worker: the process function fed by the jobs queue, streaming from Bedrock into AppSync."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from cdk.api import TokencastApi
from cdk.nag import acknowledge_iam5
from cdk.queues import JobQueues
from cdk.storage import SessionTable

#: What ConverseStream needs (InvokeModelWithResponseStream) and Converse, its non-streaming twin.
BEDROCK_ACTIONS = ("bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel")

#: Prefixes of Bedrock's system-defined cross-region inference profiles (``us.anthropic...``).
INFERENCE_PROFILE_PREFIXES = frozenset({"us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"})

#: Table actions of the process handler (tokencast.core.store): take an attempt and move the
#: session through its statuses (conditional UpdateItem), re-read it (GetItem), and append each
#: event in a TransactWriteItems with the session update. IAM has no TransactWriteItems action:
#: a transaction's Put/Update are authorized as PutItem/UpdateItem and a ConditionCheck as
#: ConditionCheckItem (kept for the store's fencing checks). No Query: events are read by the
#: sessions function, never by the worker.
PROCESS_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
)


@dataclass(frozen=True)
class ModelArns:
    """IAM resources for an allow-list of Bedrock model ids."""

    #: Invocable directly: in-region foundation models and this account's inference profiles.
    direct: tuple[str, ...]
    #: Foundation models behind the inference profiles, in every region a profile may route to;
    #: usable only *through* one of :attr:`profiles` (condition ``bedrock:InferenceProfileArn``).
    routed: tuple[str, ...]
    profiles: tuple[str, ...]


def model_arns(stack: Stack, model_ids: Sequence[str]) -> ModelArns:
    """Map ``anthropic.claude...`` / ``us.anthropic.claude...`` / full ARNs to IAM resources."""
    direct: list[str] = []
    routed: list[str] = []
    profiles: list[str] = []
    for model_id in model_ids:
        if model_id.startswith("arn:"):
            direct.append(model_id)
            continue
        prefix, _, base = model_id.partition(".")
        if prefix in INFERENCE_PROFILE_PREFIXES and base:
            profile = stack.format_arn(service="bedrock", resource="inference-profile", resource_name=model_id)
            profiles.append(profile)
            direct.append(profile)
            routed.append(f"arn:{stack.partition}:bedrock:*::foundation-model/{base}")
        else:
            direct.append(f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}")
    return ModelArns(direct=tuple(direct), routed=tuple(routed), profiles=tuple(profiles))


@dataclass(frozen=True)
class StreamWorkerProps:
    function: lambda_.Function
    queues: JobQueues
    store: SessionTable
    api: TokencastApi
    allowed_models: Sequence[str]
    #: Concurrent workers the event source may run: the guard on Bedrock's tokens-per-minute quota.
    max_concurrency: int


class StreamWorker(Construct):
    """SQS → process function, one job per invocation, with everything the handler may touch.

    Batch size 1: a job is a whole streamed answer; batching would make one slow answer hold
    others back and one failure retry its neighbours. ReportBatchItemFailures lets the handler
    fail the job without failing the invocation. Maximum concurrency caps parallel model streams
    without reserved concurrency (which would also cap the rest of the account's Lambdas).
    """

    def __init__(self, scope: Construct, id: str, props: StreamWorkerProps) -> None:
        super().__init__(scope, id)
        fn = props.function
        stack = Stack.of(self)

        # Receive/delete/ChangeMessageVisibility (heartbeat, quick retry) on the jobs queue:
        # the event source grants exactly the consume set.
        self.event_source = event_sources.SqsEventSource(
            props.queues.jobs_queue,
            batch_size=1,
            report_batch_item_failures=True,
            max_concurrency=props.max_concurrency,
        )
        fn.add_event_source(self.event_source)

        # Permanent failures go straight to the DLQ with their reason (no pointless retries).
        JobQueues.grant(props.queues.dead_letter_queue, fn, "sqs:SendMessage")
        props.store.grant(fn, *PROCESS_TABLE_ACTIONS)
        props.api.grant_publish(fn)

        arns = model_arns(stack, props.allowed_models)
        fn.add_to_role_policy(iam.PolicyStatement(actions=list(BEDROCK_ACTIONS), resources=list(arns.direct)))
        if arns.routed:
            if fn.role is None:  # a Function made in a stack always has one (given or created)
                raise ValueError(f"{fn.node.path}: the process function has no role to scope Bedrock access on")
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(BEDROCK_ACTIONS),
                    resources=list(arns.routed),
                    conditions={"StringLike": {"bedrock:InferenceProfileArn": list(arns.profiles)}},
                )
            )
            acknowledge_iam5(
                fn.role,
                resources=list(arns.routed),
                reason=(
                    "A cross-region inference profile routes to the same foundation model in several "
                    "regions, so its region is a wildcard; the statement only applies through the "
                    "allow-listed profiles (bedrock:InferenceProfileArn condition)."
                ),
            )

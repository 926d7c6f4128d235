"""Which tokencast the CLI talks to: the local stack, a URL, or a deployed CloudFormation stack.

``tokencast up`` writes its endpoints to ``.tokencast/local.json`` (in the directory it runs
in, or ``TOKENCAST_STATE_DIR``) so ``stream``, ``watch`` and ``dlq`` in another terminal find
it with no flags. ``--stack NAME`` reads the deployed stack's outputs instead, so the same
commands work against the cloud.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tokencast.cli.errors import EXIT_USAGE, CliError
from tokencast.local import state_dir
from tokencast.outputs import StackOutput


@dataclass(frozen=True)
class Target:
    graphql_url: str
    region: str = "us-east-1"
    realtime_url: str | None = None
    api_key: str | None = None
    jobs_queue_url: str | None = None
    dlq_url: str | None = None
    table_name: str | None = None
    #: endpoint for SQS/DynamoDB (moto locally; None means AWS)
    aws_endpoint_url: str | None = None
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    local: bool = False
    #: local only: the API over TLS, and the CA that signed its certificate
    https_graphql_url: str | None = None
    ca_cert: str | None = None

    def boto3_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.aws_endpoint_url:
            kwargs.update(endpoint_url=self.aws_endpoint_url, aws_access_key_id="test", aws_secret_access_key="test")
        return kwargs


def state_file() -> Path:
    return state_dir() / "local.json"


def save_local(target: Target) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(target), indent=2), encoding="utf-8")
    return path


def clear_local() -> None:
    state_file().unlink(missing_ok=True)


def load_local() -> Target | None:
    path = state_file()
    if not path.exists():
        return None
    return Target(**json.loads(path.read_text(encoding="utf-8")))


def from_stack(name: str, region: str | None = None) -> Target:
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=region)
    stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in (StackOutput.GRAPHQL_URL, StackOutput.REGION) if k not in outputs]
    if missing:
        raise CliError(
            f"stack {name} has no output {', '.join(missing)}",
            "is it a tokencast stack? `cdk deploy` in this repository creates one",
            EXIT_USAGE,
        )
    return Target(
        graphql_url=outputs[StackOutput.GRAPHQL_URL],
        realtime_url=outputs.get(StackOutput.REALTIME_URL),
        region=outputs[StackOutput.REGION],
        jobs_queue_url=outputs.get(StackOutput.JOBS_QUEUE_URL),
        dlq_url=outputs.get(StackOutput.DEAD_LETTER_QUEUE_URL),
        table_name=outputs.get(StackOutput.TABLE_NAME),
        user_pool_id=outputs.get(StackOutput.USER_POOL_ID),
        user_pool_client_id=outputs.get(StackOutput.USER_POOL_CLIENT_ID),
    )


def resolve(*, url: str | None, stack: str | None, region: str | None) -> Target:
    """``--url`` beats ``--stack`` beats the running local stack."""
    if url:
        local = load_local()
        if local and local.graphql_url == url:
            return local
        return Target(graphql_url=url, region=region or "us-east-1")
    if stack:
        return from_stack(stack, region)
    local = load_local()
    if local is None:
        raise CliError(
            "no tokencast to talk to",
            "start one with `tokencast up` (or `make up`), or pass --url / --stack",
            EXIT_USAGE,
        )
    return local

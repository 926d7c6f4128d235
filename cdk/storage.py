"""The sessions table: one item per session plus its event log, for catch-up, resume and replay."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from tokencast.core import table as contract

#: The table contract, defined once in tokencast.core.table (the local stack creates the same table).
PARTITION_KEY = contract.PK
SORT_KEY = contract.SK
TTL_ATTRIBUTE = contract.TTL_ATTRIBUTE
OWNER_INDEX = contract.OWNER_INDEX


@dataclass(frozen=True)
class SessionTableProps:
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN


class SessionTable(Construct):
    """On-demand DynamoDB table with TTL and point-in-time recovery.

    Why on-demand: traffic is bursty (a session writes a few dozen items in seconds, then
    nothing), so provisioned capacity would either throttle streams or sit idle. Why TTL:
    sessions and their events are a replay buffer, not an archive; ``expiresAt`` ages them
    out for free. Why PITR: a bad deploy of the worker must not be able to destroy history.

    Access is granted per action (:meth:`grant`), never with ``grantReadWriteData``, so each
    function's policy lists exactly what its handler calls.
    """

    def __init__(self, scope: Construct, id: str, props: SessionTableProps | None = None) -> None:
        super().__init__(scope, id)
        props = props or SessionTableProps()
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # AWS-owned key: encrypted at rest, no KMS request charges, no key policy to manage.
            encryption=dynamodb.TableEncryption.DEFAULT,
            deletion_protection=props.removal_policy == RemovalPolicy.RETAIN,
            removal_policy=props.removal_policy,
        )
        # listSessions: an owner's sessions by creation time. INCLUDE, not ALL: the projected
        # fields change only with the status, so a streamed token never writes the index.
        self.table.add_global_secondary_index(
            index_name=contract.OWNER_INDEX,
            partition_key=dynamodb.Attribute(name=contract.OWNER_INDEX_PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=contract.OWNER_INDEX_SK, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(contract.OWNER_INDEX_PROJECTION),
        )

    @property
    def table_name(self) -> str:
        return self.table.table_name

    @property
    def owner_index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{contract.OWNER_INDEX}"

    def grant_owner_index_query(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``dynamodb:Query`` on the owner index only (listSessions), not on other indexes."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["dynamodb:Query"], resource_arns=[self.owner_index_arn]
        )

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Allow exactly ``actions`` (e.g. ``dynamodb:PutItem``) on the table, and nothing on indexes."""
        if not actions or not all(a.startswith("dynamodb:") and "*" not in a for a in actions):
            raise ValueError(f"name explicit dynamodb actions, got {actions!r}")
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[self.table.table_arn])

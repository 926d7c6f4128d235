"""cdk-nag (AwsSolutions) wiring and the one helper every justified IAM wildcard goes through.

cdk-nag 3 reports through CDK's policy-validation plugins: a finding fails ``synth`` unless it
is acknowledged with ``Validations.of(construct).acknowledge(...)`` on the construct or an
ancestor. IAM5 (wildcards) is acknowledged per finding — ``AwsSolutions-IAM5[Resource::...]``
names the exact resource string — so a justification can never silently cover a new wildcard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_checks(scope: IConstruct) -> None:
    """Run the AwsSolutions pack over everything under ``scope`` (an App or Stage) at synth."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope, write_suppressions_to_cloud_formation=True))


def flatten_cfn_reference(node: Any) -> str:
    """cdk-nag's ``flattenCfnReference``: how a resolved ARN is spelled inside a finding id.

    ``{"Fn::GetAtt": ["Fn", "Arn"]}`` → ``<Fn.Arn>``, ``{"Ref": "AWS::Region"}`` → ``<AWS::Region>``,
    ``Fn::Join`` concatenated, ``${...}`` of ``Fn::Sub`` → ``<...>``.
    """
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict) and "Fn::Join" in node:
        delimiter: str
        items: list[Any]
        delimiter, items = node["Fn::Join"]
        return delimiter.join(flatten_cfn_reference(i) for i in items)
    if isinstance(node, dict) and "Fn::Sub" in node:
        return flatten_cfn_reference(node["Fn::Sub"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
    if isinstance(node, dict) and "Fn::ImportValue" in node:
        return flatten_cfn_reference(node["Fn::ImportValue"])
    if isinstance(node, dict) and "Ref" in node:
        return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def acknowledge_iam5(
    scope: IConstruct, *, reason: str, resources: Sequence[str] = (), actions: Sequence[str] = ()
) -> None:
    """Acknowledge AwsSolutions-IAM5 for exactly these wildcard resources/actions, with a reason."""
    if not reason.strip():
        raise ValueError("every acknowledgment needs a reason")
    findings = [f"Resource::{flatten_cfn_reference(Stack.of(scope).resolve(r))}" for r in resources]
    findings += [f"Action::{a}" for a in actions]
    for finding in findings:
        if "*" not in finding:  # nag would not report it: an acknowledgment here would only mislead
            raise ValueError(f"{finding} has no wildcard; nothing to acknowledge")
    acks = [Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason) for finding in findings]
    Validations.of(scope).acknowledge(*acks)

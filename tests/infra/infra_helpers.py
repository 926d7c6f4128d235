"""Reading synthesized CloudFormation: resources by type, and a role's effective statements."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from cdk.nag import flatten_cfn_reference

#: The two stacks the session synthesizes (tests/infra/conftest.py).
DEFAULT_STACK = "Tokencast"
DEV_STACK = "TokencastDev"
EXISTING_POOL_ID = "eu-west-1_Abc123XYZ"
DEV_CONTEXT: dict[str, Any] = {
    "enableApiKey": "true",  # command-line spelling on purpose
    "userPoolId": EXISTING_POOL_ID,
    "alarmEmail": "oncall@example.com",
    "allowedModels": ["eu.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-micro-v1:0"],
    "defaultModel": "amazon.nova-micro-v1:0",
    "maxConcurrency": "25",
    "maxAttempts": 5,
    "retentionDays": 10,
    "flushWindowMs": 80,
    "limits": {"maxTokens": 2048, "maxPromptChars": 10000},
    "quotas": {"maxActiveSessions": 2, "maxStartsPerMinute": None, "maxTokensPerDay": 100000},
    "removalPolicy": "destroy",
    "logLevel": "debug",
}


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def one(template: dict[str, Any], type_: str, where: Callable[[str, dict[str, Any]], bool] = lambda k, v: True) -> str:
    """The logical id of the single resource of ``type_`` matching ``where``."""
    found = [k for k, v in resources(template, type_).items() if where(k, v)]
    assert len(found) == 1, f"expected one {type_}, found {found}"
    return found[0]


def function_id(template: dict[str, Any], handler: str) -> str:
    return one(template, "AWS::Lambda::Function", lambda k, v: v["Properties"]["Handler"] == handler)


def role_of(template: dict[str, Any], function_logical_id: str) -> str:
    role = template["Resources"][function_logical_id]["Properties"]["Role"]
    return role["Fn::GetAtt"][0]


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement that applies to the role: attached AWS::IAM::Policy documents and inline ones."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for inline in template["Resources"][role_id]["Properties"].get("Policies", []):
        statements += inline["PolicyDocument"]["Statement"]
    return statements


def grants(statements: Iterable[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Flatten statements into (action, resource, condition) triples, resources spelled like cdk-nag."""
    out = set()
    for st in statements:
        assert st["Effect"] == "Allow", st
        condition = json.dumps(st.get("Condition"), sort_keys=True, default=str) if st.get("Condition") else ""
        for action in _listify(st["Action"]):
            for resource in _listify(st["Resource"]):
                out.add((action, flatten_cfn_reference(resource), condition))
    return out


def triples(actions: Iterable[str], resource: str, condition: str = "") -> set[tuple[str, str, str]]:
    return {(a, resource, condition) for a in actions}

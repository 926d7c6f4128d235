"""MotoMeter: DynamoDB write units counted as DynamoDB bills them, and the latency knob."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from tokencast.core.table import table_definition
from tokencast.local.moto_meter import CONTROL_PATH, MotoMeter

REGION = "eu-west-3"  # a region no other test's moto backend uses
AUTH = f"AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=x"


@pytest.fixture
def meter() -> MotoMeter:
    return MotoMeter(
        DomainDispatcherApplication(create_backend_app), account=DEFAULT_ACCOUNT_ID, region=REGION, api_key="k"
    )


def call(meter: MotoMeter, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    response = Client(meter).post(
        "/",
        data=json.dumps(body),
        headers={
            "Host": f"dynamodb.{REGION}.amazonaws.com",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH,
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(json.loads(response.get_data() or b"{}"))


def item(sk: str, text: str) -> dict[str, Any]:
    return {"pk": {"S": "SESSION#s1"}, "sk": {"S": sk}, "text": {"S": text}}


def test_write_units_follow_item_size_and_double_in_a_transaction(meter):
    call(meter, "CreateTable", table_definition("meter-table"))
    meter.reset()
    call(meter, "PutItem", {"TableName": "meter-table", "Item": item("SESSION", "small")})
    assert meter.snapshot() == {"operations": {"PutItem": 1}, "writeUnits": 1}
    call(meter, "PutItem", {"TableName": "meter-table", "Item": item("BIG", "x" * 2500)})  # 3 KB after rounding up
    assert meter.snapshot()["writeUnits"] == 1 + 3
    meter.reset()
    call(
        meter,
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "meter-table", "Item": item("EVENT#1", "hi")}},
                {
                    "Update": {
                        "TableName": "meter-table",
                        "Key": {"pk": {"S": "SESSION#s1"}, "sk": {"S": "SESSION"}},
                        "UpdateExpression": "SET lastSeq = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        },
    )
    assert meter.snapshot() == {"operations": {"TransactWriteItems": 1}, "writeUnits": 4}
    call(meter, "GetItem", {"TableName": "meter-table", "Key": {"pk": {"S": "SESSION#s1"}, "sk": {"S": "SESSION"}}})
    assert meter.snapshot()["operations"]["GetItem"] == 1 and meter.snapshot()["writeUnits"] == 4


def test_the_control_path_sets_latency_and_resets(meter):
    client = Client(meter)
    meter.operations["PutItem"] = 3
    assert client.post(CONTROL_PATH, json={"latency_ms": 8}).status_code == 401  # no key, no change
    assert client.get(CONTROL_PATH, headers={"x-api-key": "wrong"}).status_code == 401
    assert meter.latency_s == 0
    answer = client.post(CONTROL_PATH, json={"latency_ms": 8, "reset": True}, headers={"x-api-key": "k"}).get_json()
    assert answer == {"operations": {}, "writeUnits": 0, "latencyMs": 8.0}
    assert meter.latency_s == pytest.approx(0.008)

"""moto's conditional writes are atomic under concurrency once patched, as DynamoDB's are.

Unpatched, moto checks a ``ConditionExpression`` and then writes without a lock, so with
frequent thread switches two conditional puts on one new item can both win (seen here in
about 1 round in 20); the quota ledger and the store's fencing rely on exactly one winning.
"""

from __future__ import annotations

import sys
import threading

import boto3
from botocore.exceptions import ClientError


def test_only_one_of_many_concurrent_conditional_puts_wins(core_aws, moto_endpoint):
    clients = [
        boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=core_aws.settings.region) for _ in range(8)
    ]
    table = core_aws.settings.table_name
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen any race
    try:
        for round_ in range(20):
            winners: list[int] = []
            barrier = threading.Barrier(len(clients))

            def put(i: int, round_: int = round_, winners: list[int] = winners, barrier=barrier) -> None:
                barrier.wait()
                try:
                    clients[i].put_item(
                        TableName=table,
                        Item={"pk": {"S": f"race-{round_}"}, "sk": {"S": "x"}, "who": {"N": str(i)}},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                    winners.append(i)
                except ClientError as error:  # the losers: refused by the condition, nothing else
                    if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise

            threads = [threading.Thread(target=put, args=(i,)) for i in range(len(clients))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
    finally:
        sys.setswitchinterval(interval)

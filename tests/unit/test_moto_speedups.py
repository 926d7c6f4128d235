"""The moto patch keeps TransactWriteItems' all-or-nothing semantics."""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tokencast.core.table import table_definition
from tokencast.local import moto_speedups


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch):
    moto_speedups.install()
    # A local stack started earlier in this process points AWS_ENDPOINT_URL_* at its moto
    # server (a child process that mock_aws cannot reset): talk to the in-process mock only.
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_definition("t"))
        for i in range(50):
            client.put_item(TableName="t", Item={"pk": {"S": f"P#{i}"}, "sk": {"S": "S"}, "n": {"N": "0"}})
        yield client


def _items(client) -> list:
    return sorted((i["pk"]["S"], i["sk"]["S"], i.get("n", {}).get("N")) for i in client.scan(TableName="t")["Items"])


def _transaction(condition_value: str) -> list:
    return [
        {
            "Put": {
                "TableName": "t",
                "Item": {"pk": {"S": "P#1"}, "sk": {"S": "EVENT#1"}},
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        },
        {
            "Update": {
                "TableName": "t",
                "Key": {"pk": {"S": "P#1"}, "sk": {"S": "S"}},
                "UpdateExpression": "SET n = :one",
                "ConditionExpression": "n = :expected",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":expected": {"N": condition_value}},
            }
        },
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "NEW"}, "sk": {"S": "S"}}}},
    ]


def test_a_failed_condition_rolls_back_every_write(table):
    before = _items(table)
    with pytest.raises(ClientError) as raised:
        table.transact_write_items(TransactItems=_transaction(condition_value="7"))
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(table) == before


def test_a_successful_transaction_applies_every_write(table):
    table.transact_write_items(TransactItems=_transaction(condition_value="0"))
    after = _items(table)
    assert ("P#1", "EVENT#1", None) in after and ("NEW", "S", None) in after and ("P#1", "S", "1") in after
    assert len(after) == 52


def test_deepcopy_outside_a_transaction_is_still_deep(table):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    live = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["t"]
    clone = copy.deepcopy(live)
    some_key = next(iter(live.items))
    assert clone.items[some_key] is not live.items[some_key]
    range_key = next(iter(live.items[some_key]))
    assert clone.items[some_key][range_key] is not live.items[some_key][range_key]


def test_routing_uses_the_module_list_computed_once(table):
    import os

    import moto
    import moto.backends

    listed = {
        d
        for d in os.listdir(os.path.dirname(moto.__file__))
        if os.path.isdir(os.path.join(os.path.dirname(moto.__file__), d)) and not d.startswith("__")
    }
    assert set(moto.backends.list_of_moto_modules()) == listed
    assert moto.backends.list_of_moto_modules() is moto.backends.list_of_moto_modules()


def test_a_transaction_copies_the_items_it_names_not_their_whole_partition(table, monkeypatch):
    """A session's partition holds every event it stored: copying it per event made storing
    O(events so far) and filled moto's heap with millions of copies."""
    from moto.dynamodb.models.dynamo_type import Item

    for i in range(2, 30):
        table.put_item(TableName="t", Item={"pk": {"S": "P#1"}, "sk": {"S": f"EVENT#{i}"}})
    copied: list[Item] = []

    def counted_deepcopy(item: Item, memo: dict) -> Item:
        copied.append(item)
        clone = Item.__new__(Item)
        memo[id(item)] = clone
        clone.__dict__.update(copy.deepcopy(item.__dict__, memo))
        return clone

    monkeypatch.setattr(Item, "__deepcopy__", counted_deepcopy, raising=False)
    table.transact_write_items(TransactItems=_transaction(condition_value="0"))
    named = {("P#1", "S")}  # the only named item that existed before: the Put's targets are new
    assert {(i.hash_key.value, i.range_key.value) for i in copied} == named


def test_a_failed_condition_keeps_the_partitions_other_items(table):
    for i in range(2, 6):
        table.put_item(TableName="t", Item={"pk": {"S": "P#1"}, "sk": {"S": f"EVENT#{i}"}})
    before = _items(table)
    with pytest.raises(ClientError):
        table.transact_write_items(TransactItems=_transaction(condition_value="7"))
    assert _items(table) == before


def test_moto_keeps_no_copy_of_every_item_it_ever_made(table):
    """moto appends every model instance to its class's ``instances_tracked``; untracked, an
    item (or a transaction's snapshot of it) lives only as long as the table needs it."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    moto_speedups.stop_tracking_instances("dynamodb")  # mock_aws() reset the lists on entry
    table.transact_write_items(TransactItems=_transaction(condition_value="0"))
    for i in range(5):
        table.put_item(TableName="t", Item={"pk": {"S": "P#1"}, "sk": {"S": f"EVENT#{i + 2}"}})
    table.delete_item(TableName="t", Key={"pk": {"S": "P#2"}, "sk": {"S": "S"}})
    assert list(Item.instances_tracked) == [] and list(Table.instances_tracked) == []


def _conditional_update(table, expected: str, new: str, **extra) -> None:
    table.update_item(
        TableName="t",
        Key={"pk": {"S": "P#3"}, "sk": {"S": "S"}},
        UpdateExpression="SET #n = :new",
        ConditionExpression="#n = :expected",
        ExpressionAttributeNames={"#n": "n"},
        ExpressionAttributeValues={":new": {"N": new}, ":expected": {"N": expected}, **extra},
    )


def _n(table) -> str:
    return table.get_item(TableName="t", Key={"pk": {"S": "P#3"}, "sk": {"S": "S"}})["Item"]["n"]["N"]


def test_a_cached_condition_is_judged_with_each_requests_values(table):
    """The same expression text, parsed once: each request's own values still decide it."""
    _conditional_update(table, expected="0", new="1")
    _conditional_update(table, expected="1", new="2")
    with pytest.raises(ClientError) as refused:
        _conditional_update(table, expected="1", new="3")  # n is 2 now
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert _n(table) == "2"


def test_a_cached_update_expression_writes_each_requests_values(table):
    for value in ("5", "6", "7"):
        table.update_item(
            TableName="t",
            Key={"pk": {"S": "P#4"}, "sk": {"S": "S"}},
            UpdateExpression="SET n = :v",
            ExpressionAttributeValues={":v": {"N": value}},
        )
        assert table.get_item(TableName="t", Key={"pk": {"S": "P#4"}, "sk": {"S": "S"}})["Item"]["n"]["N"] == value


def test_an_unused_value_is_refused_on_a_cached_parse_too(table):
    """moto's unused-placeholder check reads what the parser found: a cached parse restores it."""
    _conditional_update(table, expected="0", new="1")  # parsed and cached
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            _conditional_update(table, expected="1", new="2", **{":unused": {"N": "9"}})
        assert "unused" in refused.value.response["Error"]["Message"].lower()
    assert _n(table) == "1"


def test_each_condition_is_lexed_once(table, monkeypatch):
    """moto lexed a transaction's conditions several times per request, in pure Python."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lexed: list[str] = []
    lex = ConditionExpressionParser._lex_condition_expression

    def counted(self):
        lexed.append(self.condition_expression)
        return lex(self)

    def swap(was: str, now: str) -> None:
        table.update_item(
            TableName="t",
            Key={"pk": {"S": "P#5"}, "sk": {"S": "S"}},
            UpdateExpression="SET #m = :now",
            ConditionExpression="#m = :was",  # this test's own text: the cache outlives a test
            ExpressionAttributeNames={"#m": "n"},
            ExpressionAttributeValues={":now": {"N": now}, ":was": {"N": was}},
        )

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counted)
    swap("0", "1")
    swap("1", "2")
    assert lexed == ["#m = :was", "#m = :was"]  # a new :was each time: parsed anew
    for now in ("3", "4", "5"):
        swap("2", now)  # the same text, names and :was (:now is not in the condition)
        swap(now, "2")
    assert len(lexed) == 2 + 4  # :was 2, 3, 4 and 5 once each: "2" served three swaps from one parse

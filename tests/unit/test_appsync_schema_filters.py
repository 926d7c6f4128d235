"""The emulator's schema loading, subscription filtering and subscriber rendering, in-process.

The end-to-end tests (tests/e2e/test_appsync_conformance.py) drive the same rules through
real clients; these pin the pieces: AppSync's scalars and directives, which auth modes each
field allows, argument and enhanced-filter matching, the ownership filter against the one
access rule, and how a mutation result becomes each subscriber's payload.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from graphql import GraphQLError, parse
from tokencast.access import can_read
from tokencast.local.appsync.auth import AuthMode
from tokencast.local.appsync.builtins import ResolverContext, publish_passthrough, session_access_filter
from tokencast.local.appsync.errors import RequestRejected
from tokencast.local.appsync.execution import GraphQLEngine
from tokencast.local.appsync.filters import (
    FilterError,
    matches_arguments,
    matches_filter,
    validate_filter,
)
from tokencast.local.appsync.schema import APPSYNC_SCALARS, AppSyncSchema
from tokencast.local.appsync.selections import by_field_name, selection_list
from tokencast.resolvers import SCHEMA_PATH, ResolverMap

ALL_MODES = frozenset(AuthMode)


@pytest.fixture(scope="module")
def schema() -> AppSyncSchema:
    return AppSyncSchema.from_file(SCHEMA_PATH)


@pytest.fixture(scope="module")
def engine(schema) -> GraphQLEngine:
    return GraphQLEngine(schema, ResolverMap.load(), {}, default_mode=AuthMode.AMAZON_COGNITO_USER_POOLS)


# -- schema ----------------------------------------------------------------------------------


def test_schema_loads_verbatim_with_appsync_builtins(schema):
    for name in APPSYNC_SCALARS:
        assert name in schema.schema.type_map, name
    directives = {d.name for d in schema.schema.directives}
    assert {
        "aws_subscribe",
        "aws_iam",
        "aws_api_key",
        "aws_cognito_user_pools",
        "aws_oidc",
        "aws_lambda",
        "aws_auth",
    } <= directives


def test_auth_modes_per_field_and_type(schema):
    assert schema.field_modes["Mutation.publishToken"] == frozenset({AuthMode.AWS_IAM})
    for field in (
        "Query.getSession",
        "Query.getEvents",
        "Mutation.startStream",
        "Mutation.cancelStream",
        "Subscription.onTokenReceived",
    ):
        assert schema.field_modes[field] == ALL_MODES, field
    for type_name in ("Session", "TokenEvent", "EventPage", "Usage"):
        assert schema.type_modes[type_name] == ALL_MODES, type_name
    # no directives on the root types: a field without its own falls back to the API default
    assert schema.type_modes["Mutation"] == frozenset()


def test_triggers_from_aws_subscribe(schema):
    assert schema.triggers == {"publishToken": ("onTokenReceived",)}


def test_sdl_that_declares_an_appsync_scalar_itself_still_loads():
    schema = AppSyncSchema.from_sdl("""
        scalar AWSDateTime
        type Thing @aws_api_key { at: AWSDateTime, id: ID! }
        type Query { thing: Thing @aws_iam @aws_api_key }
        type Mutation { put(id: ID!): Thing  touch(id: ID!): Thing }
        type Subscription { onThing: Thing @aws_subscribe(mutations: ["put", "touch"])  onPut: Thing @aws_subscribe(mutations: "put") }
    """)
    assert schema.triggers == {"put": ("onThing", "onPut"), "touch": ("onThing",)}
    assert schema.field_modes["Query.thing"] == frozenset({AuthMode.AWS_IAM, AuthMode.API_KEY})
    assert schema.type_modes["Thing"] == frozenset({AuthMode.API_KEY})
    assert schema.field_modes["Mutation.put"] == frozenset()


@pytest.mark.parametrize(
    "scalar,good,bad",
    [
        ("AWSDateTime", "2026-11-21T12:00:00.000Z", "yesterday"),
        ("AWSDate", "2026-11-21", "21/11/2026"),
        ("AWSTime", "12:30:00.123Z", "noon"),
        ("AWSTimestamp", 1_700_000_000, "1700000000"),
        ("AWSEmail", "alice@example.com", "alice"),
        ("AWSURL", "https://example.com/x", "example.com"),
        ("AWSPhone", "+1 555 0100", "call me"),
        ("AWSIPAddress", "10.0.0.1/8", "10.0.0.300"),
    ],
)
def test_appsync_scalars_accept_and_refuse(schema, scalar, good, bad):
    parse_value = schema.schema.type_map[scalar].parse_value
    assert parse_value(good) == good
    with pytest.raises(GraphQLError, match=f"Invalid {scalar} value"):
        parse_value(bad)


def test_awsjson_is_a_json_string_on_the_wire(schema):
    scalar = schema.schema.type_map["AWSJSON"]
    assert scalar.parse_value('{"a": [1, 2]}') == {"a": [1, 2]}
    assert scalar.serialize({"a": 1}) == '{"a":1}'
    assert scalar.serialize('{"a":1}') == '{"a":1}'
    with pytest.raises(GraphQLError, match="Invalid AWSJSON value"):
        scalar.parse_value("{not json")
    with pytest.raises(GraphQLError, match="Invalid AWSJSON value"):
        scalar.parse_value({"a": 1})


def test_invalid_scalar_literal_fails_validation(engine):
    query = (
        'mutation { publishToken(sessionId: "s", attempt: 1, seq: 1, type: TOKEN, token: "", '
        'isComplete: false, timestamp: "not a date") { seq } }'
    )
    with pytest.raises(RequestRejected) as refused:
        engine.prepare({"query": query})
    assert refused.value.error_type == "ValidationError" and refused.value.status == 200
    [error] = refused.value.as_errors()
    assert error["message"] == (
        "Validation error of type WrongType: argument 'timestamp' with value '\"not a date\"' "
        "is not a valid 'AWSDateTime' @ 'publishToken'"
    )


# -- argument filtering ------------------------------------------------------------------------


def test_arguments_match_result_fields_by_equality():
    payload = {"sessionId": "a", "seq": 3}
    assert matches_arguments({"sessionId": "a"}, payload)
    assert not matches_arguments({"sessionId": "b"}, payload)
    assert matches_arguments({}, payload)
    assert matches_arguments({"sessionId": None}, payload)  # a null argument does not filter
    assert not matches_arguments({"owner": "x"}, payload)  # a field the mutation did not select never matches
    assert matches_arguments({"sessionId": "a", "seq": 3}, payload)
    assert not matches_arguments({"sessionId": "a", "seq": 4}, payload)


# -- enhanced filters ----------------------------------------------------------------------------


def one(field: str, operator: str, value) -> dict:
    return {"filterGroup": [{"filters": [{"fieldName": field, "operator": operator, "value": value}]}]}


@pytest.mark.parametrize(
    "operator,value,actual,expected",
    [
        ("eq", "a", "a", True),
        ("eq", "a", "b", False),
        ("ne", "a", "b", True),
        ("ne", "a", "a", False),
        ("lt", 5, 4, True),
        ("lt", 5, 5, False),
        ("le", 5, 5, True),
        ("le", 5, 6, False),
        ("gt", 5, 6, True),
        ("gt", 5, 5, False),
        ("ge", 5, 5, True),
        ("ge", 5, 4, False),
        ("gt", 5, None, False),
        ("lt", 5, "x", False),
        ("contains", "ell", "hello", True),
        ("contains", "x", "hello", False),
        ("contains", 2, [1, 2], True),
        ("contains", 3, [1, 2], False),
        ("contains", 1, 1, False),
        ("notContains", "x", "hello", True),
        ("notContains", "ell", "hello", False),
        ("beginsWith", "he", "hello", True),
        ("beginsWith", "lo", "hello", False),
        ("beginsWith", "1", 1, False),
        ("in", ["a", "b"], "a", True),
        ("in", ["a", "b"], "c", False),
        ("notIn", ["a", "b"], "c", True),
        ("notIn", ["a", "b"], "a", False),
        ("between", [1, 3], 2, True),
        ("between", [1, 3], 3, True),
        ("between", [1, 3], 4, False),
        ("containsAny", ["x", "y"], ["a", "y"], True),
        ("containsAny", ["x"], ["a"], False),
    ],
)
def test_filter_operators(operator, value, actual, expected):
    assert matches_filter(one("f", operator, value), {"f": actual}) is expected


def test_filters_in_a_group_are_anded_and_groups_ored():
    spec = {
        "filterGroup": [
            {
                "filters": [
                    {"fieldName": "a", "operator": "eq", "value": 1},
                    {"fieldName": "b", "operator": "eq", "value": 2},
                ]
            },
            {"filters": [{"fieldName": "c", "operator": "eq", "value": 3}]},
        ]
    }
    assert matches_filter(spec, {"a": 1, "b": 2})
    assert not matches_filter(spec, {"a": 1, "b": 9})
    assert matches_filter(spec, {"a": 0, "c": 3})
    assert not matches_filter(spec, {})


def test_no_filter_matches_everything_and_missing_fields_never_match():
    assert matches_filter(None, {"x": 1})
    assert matches_filter({}, {"x": 1})
    assert not matches_filter(one("owner", "ne", "alice"), {"seq": 1})  # owner not selected: no match


def test_dotted_field_names_reach_nested_fields():
    spec = one("usage.totalTokens", "gt", 10)
    assert matches_filter(spec, {"usage": {"totalTokens": 11}})
    assert not matches_filter(spec, {"usage": {"totalTokens": 9}})
    assert not matches_filter(spec, {"usage": None})


@pytest.mark.parametrize(
    "spec,message",
    [
        ({}, "filterGroup"),
        ({"filterGroup": []}, "filterGroup"),
        (one("f", "like", "x"), "unsupported filter operator"),
        ({"filterGroup": [{"filters": [{"operator": "eq", "value": 1}]}]}, "fieldName"),
    ],
)
def test_invalid_filters_are_refused(spec, message):
    with pytest.raises(FilterError, match=message):
        validate_filter(spec)


def test_valid_filter_passes_validation():
    validate_filter(session_access_filter(ResolverContext(arguments={"sessionId": "s"}, identity=None)))


# -- the ownership filter and the access rule ----------------------------------------------------


ALICE = {"sub": "alice-sub", "username": "alice", "claims": {}, "issuer": "local"}
BOB = {"sub": "bob-sub", "username": "bob", "claims": {}, "issuer": "local"}
WORKER = {"userArn": "arn:aws:iam::000000000000:user/test", "username": "test", "accountId": "000000000000"}


def test_access_filter_for_an_api_key_caller_matches_anonymous_only():
    spec = session_access_filter(ResolverContext(arguments={"sessionId": "s"}, identity=None))
    assert spec == {
        "filterGroup": [
            {
                "filters": [
                    {"fieldName": "sessionId", "operator": "eq", "value": "s"},
                    {"fieldName": "owner", "operator": "eq", "value": "anonymous"},
                ]
            }
        ]
    }


def test_access_filter_for_a_signed_in_caller_adds_shared_sessions():
    spec = session_access_filter(ResolverContext(arguments={"sessionId": "s"}, identity=ALICE))
    assert spec["filterGroup"] == [
        {
            "filters": [
                {"fieldName": "sessionId", "operator": "eq", "value": "s"},
                {"fieldName": "owner", "operator": "eq", "value": "alice-sub"},
            ]
        },
        {
            "filters": [
                {"fieldName": "sessionId", "operator": "eq", "value": "s"},
                {"fieldName": "visibility", "operator": "eq", "value": "SHARED"},
            ]
        },
    ]


@pytest.mark.parametrize(
    "identity,owner,visibility",
    list(
        itertools.product(
            [None, ALICE, BOB, WORKER],
            ["anonymous", "alice-sub", "bob-sub", WORKER["userArn"]],
            ["PRIVATE", "SHARED"],
        )
    ),
)
def test_access_filter_agrees_with_the_access_rule(identity, owner, visibility):
    spec = session_access_filter(ResolverContext(arguments={"sessionId": "s"}, identity=identity))
    event = {"sessionId": "s", "owner": owner, "visibility": visibility}
    assert matches_filter(spec, event) is can_read(owner, visibility, identity)
    assert not matches_filter(spec, {**event, "sessionId": "other"})


def test_publish_passthrough_stamps_a_timestamp_only_when_absent():
    now = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
    stamped = publish_passthrough(ResolverContext(arguments={"seq": 1}, now=lambda: now))
    assert stamped == {"seq": 1, "timestamp": "2026-11-21T12:00:00.123Z"}
    kept = publish_passthrough(ResolverContext(arguments={"seq": 1, "timestamp": "2020-01-01T00:00:00Z"}))
    assert kept["timestamp"] == "2020-01-01T00:00:00Z"


# -- from a mutation result to a subscriber's payload ----------------------------------------------


def fields_of(document: str):
    parsed = parse(document)
    operation = parsed.definitions[0]
    fragments = {d.name.value: d for d in parsed.definitions[1:]}
    root = operation.selection_set.selections[0]
    return root.selection_set, fragments


def test_mutation_results_are_keyed_by_field_name_not_alias():
    selection, fragments = fields_of("""
        mutation { p: publishToken { id: sessionId ...F usage { in: inputTokens } } }
        fragment F on TokenEvent { seq usage { totalTokens } }""")
    result = {"id": "s", "seq": 2, "usage": {"in": 1, "totalTokens": 3}, "extra": "dropped"}
    assert by_field_name(result, selection, fragments) == {
        "sessionId": "s",
        "seq": 2,
        "usage": {"inputTokens": 1, "totalTokens": 3},
    }


def test_selection_set_list_is_appsyncs_slash_paths():
    selection, fragments = fields_of("""
        query { getEvents { items { seq usage { totalTokens } } ...P } }
        fragment P on EventPage { nextSeq }""")
    assert selection_list(selection, fragments) == [
        "items",
        "items/seq",
        "items/usage",
        "items/usage/totalTokens",
        "nextSeq",
    ]


def render(engine, subscription: str, payload: dict) -> dict:
    operation = engine.prepare({"query": subscription})
    return engine.render(operation, "onTokenReceived", payload)


def test_subscriber_gets_its_selection_with_unselected_fields_null(engine):
    rendered = render(
        engine,
        'subscription { onTokenReceived(sessionId: "s") { sessionId s: seq stopReason '
        "type usage { inputTokens outputTokens } } }",
        {"sessionId": "s", "seq": 1, "type": "TOKEN", "usage": {"inputTokens": 2}, "token": "x"},
    )
    assert rendered == {
        "data": {
            "onTokenReceived": {
                "sessionId": "s",
                "s": 1,
                "stopReason": None,
                "type": "TOKEN",
                "usage": {"inputTokens": 2, "outputTokens": None},
            }
        }
    }


def test_unselected_non_null_field_is_appsyncs_error(engine):
    rendered = render(
        engine, 'subscription { onTokenReceived(sessionId: "s") { sessionId isComplete } }', {"sessionId": "s"}
    )
    assert rendered == {
        "data": {"onTokenReceived": None},
        "errors": [
            {
                "path": ["onTokenReceived", "isComplete"],
                "locations": None,
                "message": "Cannot return null for non-nullable type: 'Boolean' within parent 'TokenEvent' "
                "(/onTokenReceived/isComplete)",
            }
        ],
    }


def test_typename_is_always_available_to_subscribers(engine):
    rendered = render(engine, 'subscription { onTokenReceived(sessionId: "s") { __typename seq } }', {"seq": 1})
    assert rendered == {"data": {"onTokenReceived": {"__typename": "TokenEvent", "seq": 1}}}

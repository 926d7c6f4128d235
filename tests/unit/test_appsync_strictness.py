"""The emulator refuses what AppSync refuses: schema rules at load, API limits per request.

Each schema rule cites where AppSync documents it (tokencast/local/appsync/schema.py); the
limits are the ``ApiLimits`` cdk/ sets on the API (tokencast/local/appsync/limits.py).
"""

from __future__ import annotations

import pytest

from tokencast.config import ApiLimits
from tokencast.local.appsync.auth import AuthMode
from tokencast.local.appsync.cost import ExecutionLimits
from tokencast.local.appsync.errors import RequestRejected
from tokencast.local.appsync.execution import GraphQLEngine
from tokencast.local.appsync.schema import AppSyncSchema, SchemaRefused
from tokencast.resolvers import SCHEMA_PATH, ResolverMap

BASE = """
type Query { ping: String @aws_api_key }
"""


def refusal(sdl: str) -> list[str]:
    with pytest.raises(SchemaRefused) as caught:
        AppSyncSchema.from_sdl(sdl)
    return caught.value.violations


def test_the_project_schema_passes_every_rule():
    AppSyncSchema.from_file(SCHEMA_PATH)


def test_an_enum_value_description_is_refused_and_an_enum_description_is_not():
    """aws/aws-appsync-community#55: descriptions only on the whole enum."""
    assert refusal(BASE + 'enum Color {\n  "the red one"\n  RED\n  BLUE\n}') == [
        "enum Color.RED: descriptions are only permitted on the whole enum, not on its values"
    ]
    AppSyncSchema.from_sdl(BASE + '"RED or BLUE"\nenum Color {\n  RED\n  BLUE\n}')


def test_a_custom_scalar_is_refused():
    """AppSync Developer Guide, "Scalar types": AppSync does not support custom scalars."""
    assert refusal(BASE + "scalar Money") == ["scalar Money: AppSync does not support custom scalars"]


def test_the_aws_prefix_is_reserved():
    """Same page: "You cannot use AWS as a prefix for custom object types"."""
    assert refusal(BASE + "type AWSThing { id: ID }") == [
        "type AWSThing: the AWS prefix is reserved for AppSync's types"
    ]


def test_a_directive_definition_is_refused():
    """AppSync's parser: "Directive definitions are not supported." (graphql-schema-utilities#25)."""
    assert refusal(BASE + "directive @cached on FIELD_DEFINITION") == [
        "directive @cached: directive definitions are not supported"
    ]


def test_every_violation_is_reported_at_once():
    violations = refusal(BASE + 'scalar Money\ndirective @x on FIELD_DEFINITION\nenum E {\n  "d"\n  A\n}')
    assert len(violations) == 3


# -- per-request limits --------------------------------------------------------------------------


def engine(**limits) -> GraphQLEngine:
    return GraphQLEngine(
        AppSyncSchema.from_file(SCHEMA_PATH),
        ResolverMap.load(),
        {},
        default_mode=AuthMode.API_KEY,
        limits=ExecutionLimits.from_api(ApiLimits(**limits)),
    )


def refused_request(engine: GraphQLEngine, query: str) -> list[dict]:
    with pytest.raises(RequestRejected) as caught:
        engine.prepare({"query": query})
    assert caught.value.status == 200  # validation errors: data null, HTTP 200
    return caught.value.as_errors()


EVENTS = 'query { getEvents(sessionId: "s") { items { usage { totalTokens } } } }'  # depth 4


def test_query_depth_limit():
    engine(query_depth_limit=4).prepare({"query": EVENTS})
    [error] = refused_request(engine(query_depth_limit=3), EVENTS)
    assert error["message"] == "Validation error: Query depth 4 exceeds the API's queryDepthLimit of 3."


def test_depth_counts_through_fragments():
    query = (
        'query { getEvents(sessionId: "s") { ...Page } } fragment Page on EventPage { items { usage { inputTokens } } }'
    )
    refused_request(engine(query_depth_limit=3), query)


def test_resolver_count_limit_counts_each_aliased_resolver():
    query = 'query { a: getSession(sessionId: "1") { sessionId } b: getSession(sessionId: "2") { sessionId } }'
    engine(resolver_count_limit=2).prepare({"query": query})
    [error] = refused_request(engine(resolver_count_limit=1), query)
    assert error["message"] == "Validation error: The query needs 2 resolvers; the API's resolverCountLimit is 1."


def test_introspection_is_off_unless_enabled_and_typename_always_works():
    query = "query { __schema { queryType { name } } }"
    [error] = refused_request(engine(), query)
    assert "Introspection is disabled" in error["message"]
    engine(introspection=True).prepare({"query": query})
    engine().prepare({"query": 'query { __typename getSession(sessionId: "s") { __typename sessionId } }'})

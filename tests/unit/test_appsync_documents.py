"""The emulator checks each distinct document once; refusals are never remembered."""

from __future__ import annotations

import pytest

from tokencast.local.appsync.auth import AuthMode
from tokencast.local.appsync.cost import ExecutionLimits
from tokencast.local.appsync.documents import DocumentCache, ValidationFailure
from tokencast.local.appsync.execution import GraphQLEngine
from tokencast.local.appsync.schema import AppSyncSchema
from tokencast.resolvers import SCHEMA_PATH, ResolverMap

GET = "query Get($id: ID!) { getSession(sessionId: $id) { sessionId status } }"


def new_engine() -> GraphQLEngine:
    return GraphQLEngine(AppSyncSchema.from_file(SCHEMA_PATH), ResolverMap.load(), {}, default_mode=AuthMode.API_KEY)


@pytest.fixture
def engine() -> GraphQLEngine:
    return new_engine()


def test_the_same_document_is_parsed_and_validated_once(engine):
    first = engine.prepare({"query": GET, "variables": {"id": "a"}})
    second = engine.prepare({"query": GET, "variables": {"id": "b"}})
    assert first.document is second.document
    assert (first.variables.coerced["id"], second.variables.coerced["id"]) == ("a", "b")
    assert (engine.documents.misses, engine.documents.hits) == (1, 1)


def test_bad_variables_are_refused_even_for_a_remembered_document(engine):
    engine.prepare({"query": GET, "variables": {"id": "a"}})
    with pytest.raises(ValidationFailure, match="id"):
        engine.prepare({"query": GET, "variables": {}})


def test_a_refused_document_is_checked_again_each_time(engine):
    bad = "query { getSession(sessionId: 1) { nope } }"
    for _ in range(2):
        with pytest.raises(ValidationFailure, match="nope"):
            engine.prepare({"query": bad})
    assert engine.documents.misses == 0 and engine.documents.hits == 0


def test_new_limits_forget_documents_checked_under_the_old_ones(engine):
    deep = "query { __schema { types { name } } }"
    engine.limits = ExecutionLimits(introspection=True)
    engine.prepare({"query": deep})
    engine.limits = ExecutionLimits(introspection=False)
    with pytest.raises(ValidationFailure, match="Introspection is disabled"):
        engine.prepare({"query": deep})


def test_the_least_recently_used_document_is_forgotten_first():
    engine = new_engine()
    cache = DocumentCache(engine.schema.schema, engine.limits, lambda *_: True, capacity=2)
    one, two, three = (f'query Q{i} {{ getSession(sessionId: "x") {{ sessionId }} }}' for i in range(3))
    cache.check(one, None)
    cache.check(two, None)
    cache.check(one, None)  # one is now the most recent
    cache.check(three, None)  # evicts two
    assert cache.cached(one, None) is not None and cache.cached(three, None) is not None
    assert cache.cached(two, None) is None

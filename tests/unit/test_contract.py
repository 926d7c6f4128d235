"""The schema is the source of truth: Python enums and the resolver declaration must match it."""

from __future__ import annotations

from graphql import GraphQLEnumType
from tokencast.events import EventType, SessionStatus, Visibility
from tokencast.local.appsync.schema import AppSyncSchema
from tokencast.resolvers import SCHEMA_PATH, ResolverMap


def _enum_values(schema: AppSyncSchema, name: str) -> set[str]:
    enum = schema.named_type(name)
    assert isinstance(enum, GraphQLEnumType)
    return set(enum.values)


def test_python_enums_equal_schema_enums():
    schema = AppSyncSchema.from_file(SCHEMA_PATH)
    assert _enum_values(schema, "EventType") == {e.value for e in EventType}
    assert _enum_values(schema, "SessionStatus") == {s.value for s in SessionStatus}
    assert _enum_values(schema, "Visibility") == {v.value for v in Visibility}


def test_every_root_field_has_exactly_one_declared_resolver():
    schema = AppSyncSchema.from_file(SCHEMA_PATH)
    declared = set(ResolverMap.load().resolvers)
    root_fields = {
        f"{root.name}.{field}"
        for root in (schema.schema.query_type, schema.schema.mutation_type, schema.schema.subscription_type)
        for field in root.fields
    }
    assert declared == root_fields


def test_publish_is_iam_only_and_subscription_fires_on_it():
    schema = AppSyncSchema.from_file(SCHEMA_PATH)
    assert {m.value for m in schema.field_modes["Mutation.publishToken"]} == {"AWS_IAM"}
    assert schema.triggers == {"publishToken": ("onTokenReceived",)}

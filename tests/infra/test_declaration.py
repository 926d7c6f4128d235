"""graphql/resolvers.json and graphql/schema.graphql agree, field for field (no synth needed)."""

from __future__ import annotations

from graphql import ObjectTypeDefinitionNode, parse
from tokencast.local.appsync.builtins import BUILTINS, LAMBDA_BUILTINS
from tokencast.resolvers import GRAPHQL_DIR, SCHEMA_PATH, DataSourceType, ResolverMap

ROOTS = ("Query", "Mutation", "Subscription")


def _fields_by_type() -> dict[str, set[str]]:
    doc = parse(SCHEMA_PATH.read_text())
    out: dict[str, set[str]] = {}
    for node in doc.definitions:
        if isinstance(node, ObjectTypeDefinitionNode):
            out.setdefault(node.name.value, set()).update(f.name.value for f in node.fields or ())
    return out


def test_every_declared_field_exists_in_the_schema():
    fields = _fields_by_type()
    for key in ResolverMap.load().resolvers:
        type_name, _, field_name = key.partition(".")
        assert field_name in fields.get(type_name, set()), f"{key} is declared but not in the schema"


def test_every_root_field_has_a_resolver():
    fields = _fields_by_type()
    declared = set(ResolverMap.load().resolvers)
    for root in ROOTS:
        for field in fields[root]:
            assert f"{root}.{field}" in declared, f"{root}.{field} has no resolver in resolvers.json"


def test_every_resolver_has_code_and_an_emulator_twin():
    """NONE resolvers run their code in AppSync; Lambda resolvers run invokeLambda.js around the
    invoke, so a handler's error answer becomes a typed GraphQL error in both places."""
    declaration = ResolverMap.load()
    for key, spec in declaration.resolvers.items():
        assert spec.code and (GRAPHQL_DIR.parent / spec.code).is_file(), key
        if declaration.data_source_of(spec).type is DataSourceType.NONE:
            assert spec.builtin in BUILTINS, key
        else:
            assert spec.builtin in LAMBDA_BUILTINS, key


def test_declared_handlers_are_importable_module_paths():
    root = GRAPHQL_DIR.parent
    for spec in ResolverMap.load().functions.values():
        module, _, attr = spec.handler.rpartition(".")
        assert (root / (module.replace(".", "/") + ".py")).is_file(), spec.handler
        assert attr == "handler"

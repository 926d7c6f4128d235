"""graphql/resolvers.json and graphql/schema.graphql agree, field for field (no synth needed)."""

from __future__ import annotations

from graphql import ObjectTypeDefinitionNode, parse
from tokencast.local.appsync.builtins import BUILTINS
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


def test_none_resolvers_have_code_and_an_emulator_twin():
    declaration = ResolverMap.load()
    for key, spec in declaration.resolvers.items():
        if declaration.data_source_of(spec).type is DataSourceType.NONE:
            assert (GRAPHQL_DIR.parent / spec.code).is_file(), key
            assert spec.builtin in BUILTINS, key


def test_declared_handlers_are_importable_module_paths():
    root = GRAPHQL_DIR.parent
    for spec in ResolverMap.load().functions.values():
        module, _, attr = spec.handler.rpartition(".")
        assert (root / (module.replace(".", "/") + ".py")).is_file(), spec.handler
        assert attr == "handler"

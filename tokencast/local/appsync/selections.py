"""Walking a request's selections the way AppSync's resolvers see them.

Fragments flattened into field lists, results re-keyed by field name (what a mutation's
subscribers are rendered from), and the ``ctx`` / direct-Lambda event AppSync hands a
resolver, with its ``selectionSetList`` and ``selectionSetGraphQL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
    print_ast,
)

if TYPE_CHECKING:
    from tokencast.local.appsync.execution import RequestContext


def fields_of(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    visited: set[str] | None = None,
) -> list[FieldNode]:
    """Field nodes of a selection set, with fragments flattened.

    Each named fragment is expanded once per call, as graphql-core's field collection does,
    so fragments spread into each other many times cannot multiply the work.
    """
    visited = set() if visited is None else visited
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found.extend(fields_of(selection.selection_set, fragments, visited))
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            if selection.name.value in visited:
                continue
            visited.add(selection.name.value)
            found.extend(fields_of(fragments[selection.name.value].selection_set, fragments, visited))
    return found


def by_field_name(
    value: Any, selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]
) -> Any:
    """Re-key a result by field name instead of response key (aliases), keeping only selected fields."""
    if selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [by_field_name(item, selection_set, fragments) for item in value]
    out: dict[str, Any] = {}
    for node in fields_of(selection_set, fragments):
        name = node.name.value
        if name.startswith("__"):
            continue
        key = node.alias.value if node.alias else name
        if key in value:
            nested = by_field_name(value[key], node.selection_set, fragments)
            if isinstance(nested, dict) and isinstance(out.get(name), dict):
                out[name].update(nested)
            else:
                out[name] = nested
    return out


def selection_list(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], prefix: str = ""
) -> list[str]:
    """AppSync's ``info.selectionSetList``: field paths joined by ``/``."""
    paths: list[str] = []
    for node in fields_of(selection_set, fragments):
        path = prefix + node.name.value
        paths.append(path)
        paths.extend(selection_list(node.selection_set, fragments, path + "/"))
    return paths


def resolver_ctx(
    info: GraphQLResolveInfo[Any], arguments: Mapping[str, Any], context: RequestContext
) -> dict[str, Any]:
    """AppSync's ``ctx`` for a resolver's code (``args``, ``identity``, ``request``, ``info`` ...)."""
    node = info.field_nodes[0]
    return {
        "args": dict(arguments),
        "identity": context.caller.identity,
        "source": None,
        "request": {"headers": dict(context.headers), "domainName": None},
        "info": {
            "fieldName": info.field_name,
            "parentTypeName": info.parent_type.name,
            "variables": context.operation.raw_variables,
            "selectionSetList": selection_list(node.selection_set, info.fragments),
            "selectionSetGraphQL": print_ast(node.selection_set) if node.selection_set else "",
        },
        "prev": None,
        "stash": {},
    }


def lambda_event(
    info: GraphQLResolveInfo[Any], arguments: Mapping[str, Any], context: RequestContext
) -> dict[str, Any]:
    """The direct Lambda resolver event AppSync sends."""
    ctx = resolver_ctx(info, arguments, context)
    ctx["arguments"] = ctx.pop("args")
    return ctx

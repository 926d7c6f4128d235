"""How much work one GraphQL request may ask for, checked before any of it is done.

AppSync bounds a request with its API's ``queryDepthLimit`` and ``resolverCountLimit``; the
emulator applies the same two rules, plus the size of the document (parsing and validating
cost grows with it -- graphql-core's overlapping-fields check is quadratic in the fields of a
selection) and of the response. :func:`measure` walks the parsed document once, expanding each
fragment once per type (memoized), so a document that *describes* exponential work is measured
in linear time and refused before validation or execution.

Introspection fields (``__schema``, ``__type``) count as resolvers: each one walks the whole
schema, which is what made 600 aliased ``__schema`` fields expensive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)


@dataclass(frozen=True)
class ExecutionLimits:
    """Per-request limits of the emulator's GraphQL execution.

    ``max_depth`` and ``max_resolvers`` mirror AppSync's ``queryDepthLimit`` (1-75) and
    ``resolverCountLimit`` (1-10000) API settings; 0 switches a limit off, as in AppSync.
    """

    #: nesting levels of fields; a root field is level 1
    max_depth: int = 16
    #: resolver invocations (root fields, fields with their own resolver, introspection fields)
    max_resolvers: int = 100
    #: the ``query`` string, in UTF-8 bytes
    max_document_bytes: int = 64 * 1024
    #: the JSON response of a query or mutation, in bytes
    max_response_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class Cost:
    depth: int
    resolvers: int


#: True when ``Type.field`` runs a resolver of its own.
HasResolver = Callable[[str, str], bool]

_INTROSPECTION = frozenset({"__schema", "__type"})


def measure(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, has_resolver: HasResolver
) -> Cost:
    """Depth and resolver count of ``operation``; unknown fields (left for validation to report) cost 1."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[tuple[str, str | None], Cost] = {}
    in_progress: set[tuple[str, str | None]] = set()

    def selections(selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> Cost:
        depth = resolvers = 0
        seen: set[str] = set()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                cost = field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                cost = selections(
                    selection.selection_set, schema.get_type(condition.name.value) if condition else parent
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen:  # execution collects a spread once per selection set
                    continue
                seen.add(name)
                cost = spread(name)
            else:
                continue
            depth = max(depth, cost.depth)
            resolvers += cost.resolvers
        return Cost(depth, resolvers)

    def field(node: FieldNode, parent: GraphQLNamedType | None) -> Cost:
        name = node.name.value
        if name == "__typename":
            return Cost(1, 0)
        own = 1 if name in _INTROSPECTION or (parent is not None and has_resolver(parent.name, name)) else 0
        if name in _INTROSPECTION:
            child_type = None
        else:
            definition = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
            child_type = get_named_type(definition.type) if definition else None
        inner = selections(node.selection_set, child_type)
        return Cost(1 + inner.depth, own + inner.resolvers)

    def spread(name: str) -> Cost:
        fragment = fragments.get(name)
        if fragment is None:
            return Cost(0, 0)
        key = (name, fragment.type_condition.name.value)
        if key in memo:
            return memo[key]
        if key in in_progress:  # a cycle: validation refuses the document
            return Cost(0, 0)
        in_progress.add(key)
        cost = selections(fragment.selection_set, schema.get_type(fragment.type_condition.name.value))
        in_progress.discard(key)
        memo[key] = cost
        return cost

    root = schema.get_root_type(operation.operation)
    return selections(operation.selection_set, root)


def violations(cost: Cost, limits: ExecutionLimits) -> list[str]:
    """Messages for each limit ``cost`` exceeds, worded after the AppSync API settings."""
    found = []
    if limits.max_depth and cost.depth > limits.max_depth:
        found.append(f"Query depth {cost.depth} exceeds the API's queryDepthLimit of {limits.max_depth}.")
    if limits.max_resolvers and cost.resolvers > limits.max_resolvers:
        found.append(
            f"The query needs {cost.resolvers} resolvers; the API's resolverCountLimit is {limits.max_resolvers}."
        )
    return found


DEFAULT_LIMITS = ExecutionLimits()
NO_COST = Cost(0, 0)

#: Work at most this big runs in the engine's light lane (publishToken is ~600 bytes, 1 resolver).
LIGHT_DOCUMENT_BYTES = 4096
LIGHT_RESOLVERS = 4


def is_heavy(document_bytes: int, resolvers: int = 0) -> bool:
    return document_bytes > LIGHT_DOCUMENT_BYTES or resolvers > LIGHT_RESOLVERS

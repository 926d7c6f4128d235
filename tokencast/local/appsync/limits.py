"""The API's execution limits, checked before an operation runs: query depth, resolver count,
introspection -- the same :class:`tokencast.config.ApiLimits` cdk/ sets on the AppSync API
(``queryDepthLimit``, ``resolverCountLimit``, ``introspectionConfig``).

Depth counts field nesting with fragments expanded: a root field is depth 1, its subfields
depth 2, and so on. The resolver count is the number of selected fields that have a resolver
in graphql/resolvers.json (aliases count separately, as each runs its resolver). In this API
only root fields have resolvers, so the count known before execution is the count AppSync
reaches while executing. ``__typename`` is always allowed; ``__schema`` and ``__type`` only
with introspection enabled (AppSync answers them with validation errors when disabled).

AppSync's exact wording for these refusals is not published; the messages here name the
setting and the number, in AppSync's validation-error form.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from tokencast.config import ApiLimits
from tokencast.resolvers import ResolverMap

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def check_limits(
    limits: ApiLimits,
    schema: GraphQLSchema,
    resolvers: ResolverMap,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> list[GraphQLError]:
    """Every limit the operation breaks, as validation errors (empty when it may run)."""
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]
    walk = _Walk(schema, resolvers, fragments)
    walk.visit(operation.selection_set, root, 1)
    errors = []
    if walk.introspection and not limits.introspection:
        errors.append(GraphQLError("Introspection is disabled for this API (introspectionConfig DISABLED)."))
    if walk.depth > limits.query_depth_limit:
        errors.append(
            GraphQLError(f"Query depth {walk.depth} exceeds the API's queryDepthLimit of {limits.query_depth_limit}.")
        )
    if walk.resolvers > limits.resolver_count_limit:
        errors.append(
            GraphQLError(
                f"The query needs {walk.resolvers} resolvers; the API's resolverCountLimit is "
                f"{limits.resolver_count_limit}."
            )
        )
    return errors


class _Walk:
    def __init__(
        self, schema: GraphQLSchema, resolvers: ResolverMap, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> None:
        self.schema = schema
        self.declared = resolvers
        self.fragments = fragments
        self.depth = 0
        self.resolvers = 0
        self.introspection = False
        self._spreads: list[str] = []

    def visit(self, selection_set: SelectionSetNode | None, parent: GraphQLObjectType | None, depth: int) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                self._field(selection, parent, depth)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.type_map.get(condition.name.value) if condition else parent
                self.visit(selection.selection_set, target if isinstance(target, GraphQLObjectType) else None, depth)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in self._spreads:  # cycles are the validator's to report
                    continue
                self._spreads.append(name)
                target = self.schema.type_map.get(fragment.type_condition.name.value)
                self.visit(fragment.selection_set, target if isinstance(target, GraphQLObjectType) else None, depth)
                self._spreads.pop()

    def _field(self, node: FieldNode, parent: GraphQLObjectType | None, depth: int) -> None:
        name = node.name.value
        if name in INTROSPECTION_FIELDS:
            self.introspection = True
            return
        if name == "__typename":
            return
        self.depth = max(self.depth, depth)
        if parent is None:
            return
        if self.declared.resolver_for(parent.name, name) is not None:
            self.resolvers += 1
        field = parent.fields.get(name)
        child = get_named_type(field.type) if field else None
        if node.selection_set is not None:
            self.visit(node.selection_set, child if isinstance(child, GraphQLObjectType) else None, depth + 1)

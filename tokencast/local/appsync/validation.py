"""GraphQL validation with AppSync's wording where it names more than graphql-core does.

graphql-core reports a literal of the wrong type as ``String cannot represent a non string
value: 5``, which does not say which argument; AppSync (graphql-java) says ``Validation error
of type WrongType: argument 'prompt' with value '...' is not a valid 'String' @
'startStream'``. :class:`NamedArgumentValuesRule` replaces graphql-core's
``ValuesOfCorrectTypeRule`` to say the same, with the path into an input object
(``input.maxTokens``) when the bad value is nested.
"""

from __future__ import annotations

from typing import Any

from graphql.language import DocumentNode
from graphql.language.visitor import SKIP, VisitorAction
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ValuesOfCorrectTypeRule

from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLSchema,
    ValueNode,
    get_nullable_type,
    print_ast,
    specified_rules,
    validate,
)

#: The key in a GraphQLError's extensions that carries AppSync's validation error kind.
ERROR_KIND = "validationErrorType"


class NamedArgumentValuesRule(ValuesOfCorrectTypeRule):
    """Value literals of correct type, reported by argument name and field as AppSync does."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._fields: list[str] = []
        self._argument: str | None = None

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        self._fields.append(node.name.value)

    def leave_field(self, *_args: Any) -> None:
        self._fields.pop()

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._argument = node.name.value

    def leave_argument(self, *_args: Any) -> None:
        self._argument = None

    def is_valid_value_node(self, node: ValueNode, input_type: GraphQLInputType | None) -> VisitorAction:
        if input_type:

            def on_error(error: GraphQLError, path: list[str | int]) -> None:
                self.report_error(self._named(error, node, input_type, path))

            validate_input_literal(node, input_type, on_error, None, None, self.context.hide_suggestions)
        return SKIP

    def _named(
        self, error: GraphQLError, node: ValueNode, input_type: GraphQLInputType, path: list[str | int]
    ) -> GraphQLError:
        if self._argument is None or not self._fields:  # a variable's default value: no argument to name
            return error
        argument = self._argument + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        expected = _type_at(input_type, path)
        value = print_ast(error.nodes[0]) if error.nodes else print_ast(node)
        if expected is None or "was not provided" in error.message or "is not defined by type" in error.message:
            detail = error.message
            message = f"argument '{argument}' with value '{value}' is not valid @ '{self._fields[-1]}': {detail}"
        else:
            message = f"argument '{argument}' with value '{value}' is not a valid '{expected}' @ '{self._fields[-1]}'"
        return GraphQLError(message, error.nodes, extensions={ERROR_KIND: "WrongType"})


def _type_at(input_type: GraphQLInputType, path: list[str | int]) -> Any:
    current: Any = input_type
    for part in path:
        nullable = get_nullable_type(current)
        if isinstance(part, int) and isinstance(nullable, GraphQLList):
            current = nullable.of_type
        elif isinstance(part, str) and isinstance(nullable, GraphQLInputObjectType) and part in nullable.fields:
            current = nullable.fields[part].type
        else:
            return None
    return current


RULES = tuple(NamedArgumentValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in specified_rules)


def validate_document(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
    return validate(schema, document, RULES)

"""Parsed, bounded and validated documents, remembered by their text.

A stream is hundreds of ``publishToken`` requests carrying the same document with other
variables. Parsing and validating it (graphql-core walks every rule over the whole tree)
costs milliseconds of CPU on the event loop that also serves every WebSocket, so doing it
once per distinct document text, as GraphQL servers commonly do, takes it off the hot path.
Only documents that passed are remembered: a refused one is checked again each time and
gets the same error. What depends on the request -- variables -- is never cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, get_operation_ast, parse
from tokencast.local.appsync.cost import NO_COST, Cost, ExecutionLimits, introspection_violations, measure, violations
from tokencast.local.appsync.errors import VALIDATION, RequestRejected, validation_errors
from tokencast.local.appsync.validation import validate_document

#: Distinct documents remembered; a client set uses a handful, so this is generous.
DEFAULT_CAPACITY = 256


class ValidationFailure(RequestRejected):
    """Syntax, validation or variable errors: AppSync answers them with status 200."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(VALIDATION, "; ".join(e.message for e in errors), status=200)
        self.errors = errors

    def as_errors(self) -> list[dict[str, object]]:
        return validation_errors(self.errors)


@dataclass(frozen=True)
class CheckedDocument:
    """A document that parsed, stayed within the API's limits and validated against the schema."""

    document: DocumentNode
    operation: OperationDefinitionNode
    cost: Cost
    document_bytes: int


class DocumentCache:
    """``check(query, operation_name)``: the checked document, from memory when seen before.

    Thread-safe: heavy documents are checked on the engine's worker threads.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        limits: ExecutionLimits,
        has_resolver: Callable[[str, str], bool],
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._schema = schema
        self._limits = limits
        self._has_resolver = has_resolver
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str | None], CheckedDocument] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def cached(self, query: str, operation_name: str | None) -> CheckedDocument | None:
        """The checked document if it is in memory (no work otherwise)."""
        key = (query, operation_name)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return entry

    def check(self, query: str, operation_name: str | None) -> CheckedDocument:
        """Parse, bound and validate ``query`` (or recall it); :class:`ValidationFailure` if refused."""
        entry = self.cached(query, operation_name)
        if entry is not None:
            return entry
        entry = self._check(query, operation_name)
        with self._lock:
            self.misses += 1
            self._entries[(query, operation_name)] = entry
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return entry

    def _check(self, query: str, operation_name: str | None) -> CheckedDocument:
        size = len(query.encode("utf-8", "surrogatepass"))
        if self._limits.max_document_bytes and size > self._limits.max_document_bytes:
            raise ValidationFailure(
                [
                    GraphQLError(
                        f"the query is {size} bytes; the document size limit is {self._limits.max_document_bytes}"
                    )
                ]
            )
        try:
            document = parse(query)
        except GraphQLError as error:
            raise ValidationFailure([error]) from None
        except RecursionError:
            raise ValidationFailure([GraphQLError("Syntax Error: the document is nested too deeply.")]) from None
        operation = get_operation_ast(document, operation_name)
        cost = self._bound(document, operation) if operation is not None else NO_COST
        errors = validate_document(self._schema, document)
        if errors:
            raise ValidationFailure(errors)
        if operation is None:
            raise ValidationFailure(
                [
                    GraphQLError(
                        f"Unknown operation named '{operation_name}'."
                        if operation_name
                        else "Must provide operation name if query contains multiple operations."
                    )
                ]
            )
        return CheckedDocument(document, operation, cost, size)

    def _bound(self, document: DocumentNode, operation: OperationDefinitionNode) -> Cost:
        """AppSync's API limits (depth, resolver count, introspection), before validation runs."""
        try:
            cost = measure(self._schema, document, operation, self._has_resolver)
        except RecursionError:
            problems = [f"Query depth exceeds the API's queryDepthLimit of {self._limits.max_depth}."]
        else:
            problems = violations(cost, self._limits)
        problems += introspection_violations(document, self._limits)
        if problems:
            raise ValidationFailure([GraphQLError(problem) for problem in problems])
        return cost

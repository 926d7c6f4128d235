"""AppSync's error shapes, in one place for HTTP and the real-time protocol.

AppSync reports resolver and authorization errors inside ``errors`` with ``errorType``,
``errorInfo``, ``data``, ``path`` and ``locations`` (each location with ``sourceName``);
request-level failures (bad JSON, no query, bad auth) are an ``errors`` list with
``errorType`` and ``message`` only, with a 4xx status; syntax, validation and variable
errors answer 200 with ``data`` null and errors without ``errorType``. The HTTP cases follow
what the AppSync team published in graphql/graphql-over-http#81.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLSchema, get_named_type

UNAUTHORIZED = "Unauthorized"
LAMBDA_UNHANDLED = "Lambda:Unhandled"
MALFORMED_REQUEST = "MalformedHttpRequestException"
BAD_REQUEST = "BadRequestException"
VALIDATION = "ValidationError"
PAYLOAD_TOO_LARGE = "PayloadTooLargeException"
#: AppSync's message for a body that holds no GraphQL request (bad JSON, no query, "[]")
UNPARSABLE_QUERY = "Unable to parse GraphQL query."
UNSUPPORTED_OPERATION = "UnsupportedOperation"
#: a query or mutation whose response exceeds the emulator's response size limit
RESPONSE_TOO_LARGE = "ResponseTooLarge"


class RequestRejected(Exception):
    """A request-level failure: the operation never ran."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status

    def as_errors(self) -> list[dict[str, Any]]:
        return [{"errorType": self.error_type, "message": self.message}]


def field_error(message: str, error_type: str, error_info: Any = None) -> GraphQLError:
    """An error raised while resolving a field; keeps AppSync's errorType through graphql-core."""
    return GraphQLError(message, extensions={"errorType": error_type, "errorInfo": error_info})


#: graphql-core's wording for a null in a non-null field (e.g. a field the mutation did not select)
_NON_NULL = re.compile(r"^Cannot return null for non-nullable field (\w+)\.(\w+)\.$")


def format_error(error: GraphQLError, schema: GraphQLSchema | None = None) -> dict[str, Any]:
    if schema is not None and (violation := _null_violation(error, schema)) is not None:
        return violation
    extensions = error.extensions or {}
    return {
        "path": list(error.path) if error.path else None,
        "data": None,
        "errorType": extensions.get("errorType", VALIDATION if error.path is None else "GraphQLError"),
        "errorInfo": extensions.get("errorInfo"),
        "locations": [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations or ()],
        "message": error.message,
    }


def _null_violation(error: GraphQLError, schema: GraphQLSchema) -> dict[str, Any] | None:
    """AppSync's shape for a null in a non-null field: its own message, a path, no locations.

    ``Cannot return null for non-nullable type: 'String' within parent 'TokenEvent'
    (/onTokenReceived/token)`` is what AppSync sends, over HTTP and in subscription data
    when a subscriber selects a non-null field the mutation did not.
    """
    match = _NON_NULL.match(error.message)
    if match is None:
        return None
    parent = schema.type_map.get(match.group(1))
    field = parent.fields.get(match.group(2)) if isinstance(parent, GraphQLObjectType) else None
    if parent is None or field is None:
        return None
    path = list(error.path or ())
    shown = "".join(f"[{part}]" if isinstance(part, int) else f"/{part}" for part in path)
    return {
        "path": path,
        "locations": None,
        "message": f"Cannot return null for non-nullable type: '{get_named_type(field.type).name}' "
        f"within parent '{parent.name}' ({shown})",
    }


def validation_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    """Syntax, validation and variable failures as AppSync reports them over HTTP (status 200,
    ``data`` null): ``path`` null, ``locations``, a message, and no ``errorType``.

    AppSync's parser says ``Invalid Syntax : ...`` and its validator ``Validation error of
    type <Kind>: ...``; the text after the prefix is graphql-core's.
    """
    shaped = []
    for error in errors:
        syntax = error.message.startswith("Syntax Error: ")
        kind = (error.extensions or {}).get("validationErrorType")
        shaped.append(
            {
                "path": None,
                "locations": [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations]
                if error.locations
                else None,
                "message": f"Invalid Syntax : {error.message.removeprefix('Syntax Error: ')}"
                if syntax
                else f"Validation error of type {kind}: {error.message}"
                if kind
                else f"Validation error: {error.message}",
            }
        )
    return shaped

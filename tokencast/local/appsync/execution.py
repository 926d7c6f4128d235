"""Parse, authorize and execute GraphQL operations like AppSync's data plane.

Root fields are served by the data sources that graphql/resolvers.json names: direct Lambda
resolvers receive AppSync's event (arguments, identity, source, request, info, prev, stash);
NONE data sources run the Python twin of their APPSYNC_JS code. Every field checks the auth
modes its directives (or its type's, or the API default) allow, so an API-key caller meets
``Not Authorized to access publishToken on type Mutation`` exactly where AppSync would.

One request must not stall the others (or the real-time streams the same event loop
serves). :mod:`~tokencast.local.appsync.cost` bounds a document's size, depth and resolver
count before it is validated, as AppSync's API settings do; within those bounds, a *heavy*
operation (a large document, or more than a few resolvers) is parsed, validated
(:meth:`GraphQLEngine.prepare_off_loop`) and executed (:meth:`GraphQLEngine.execute`, on a
private event loop, with the mutation fan-out back on the caller's loop) on the engine's
worker threads. Light ones -- publishToken, getSession, startStream -- run on the loop: they
cost less than the thread hop, and their resolvers await Lambda invocations without holding
a thread. A document is checked once per distinct text
(:class:`~tokencast.local.appsync.documents.DocumentCache`); only variables are coerced per
request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    OperationType,
    execute,
)
from tokencast.local.appsync.auth import AuthMode, Caller
from tokencast.local.appsync.builtins import BUILTINS, LAMBDA_BUILTINS, ResolverContext, UtilError
from tokencast.local.appsync.cost import DEFAULT_LIMITS, NO_COST, Cost, ExecutionLimits, is_heavy
from tokencast.local.appsync.documents import DocumentCache, ValidationFailure
from tokencast.local.appsync.errors import (
    LAMBDA_UNHANDLED,
    MALFORMED_REQUEST,
    RESPONSE_TOO_LARGE,
    UNAUTHORIZED,
    UNPARSABLE_QUERY,
    UNSUPPORTED_OPERATION,
    VALIDATION,
    RequestRejected,
    field_error,
    format_error,
)
from tokencast.local.appsync.schema import AppSyncSchema
from tokencast.local.appsync.selections import by_field_name, fields_of, lambda_event, resolver_ctx
from tokencast.local.lambda_runtime import LambdaInvocationError, LocalFunction
from tokencast.resolvers import DataSourceType, ResolverMap

_T = TypeVar("_T")

log = logging.getLogger(__name__)

#: Called after a mutation field resolved: (mutation field name, its result by field name).
MutationListener = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    """A parsed, validated request."""

    document: DocumentNode
    operation: OperationDefinitionNode
    variables: VariableValues
    raw_variables: dict[str, Any]
    #: what the limits measured, and the query's size: which worker lane runs it
    cost: Cost = NO_COST
    document_bytes: int = 0

    @property
    def heavy(self) -> bool:
        return is_heavy(self.document_bytes, self.cost.resolvers)

    @property
    def kind(self) -> OperationType:
        return self.operation.operation

    @property
    def fragments(self) -> dict[str, FragmentDefinitionNode]:
        return {d.name.value: d for d in self.document.definitions if isinstance(d, FragmentDefinitionNode)}

    def root_fields(self) -> list[FieldNode]:
        return fields_of(self.operation.selection_set, self.fragments)


@dataclass
class RequestContext:
    caller: Caller
    headers: Mapping[str, str]
    operation: Operation
    #: mutation results to fan out once the operation finished
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class GraphQLEngine:
    """The executable API: schema + resolver declaration + functions + auth defaults."""

    def __init__(
        self,
        schema: AppSyncSchema,
        resolvers: ResolverMap,
        functions: Mapping[str, LocalFunction],
        *,
        default_mode: AuthMode,
        on_mutation: MutationListener | None = None,
        limits: ExecutionLimits = DEFAULT_LIMITS,
    ) -> None:
        self.schema = schema
        self.resolvers = resolvers
        self.limits = limits  # and the document cache that checks under them
        # Heavy work only: a flood of it queues here, never in front of the light operations
        # a stream is made of (publishToken, getEvents), which run on the loop.
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="graphql-heavy")
        self.functions = functions
        self.default_mode = default_mode
        self.on_mutation = on_mutation
        #: Added before each mutation runs: stands in for the network between a Lambda and
        #: AppSync (benchmarks set ~25 ms); 0 by default.
        self.mutation_latency_s = 0.0

    @property
    def limits(self) -> ExecutionLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: ExecutionLimits) -> None:
        """New limits start an empty document cache: what passed under the old ones may not now."""
        self._limits = limits
        self.documents = DocumentCache(
            self.schema.schema,
            limits,
            lambda type_name, field_name: self.resolvers.resolver_for(type_name, field_name) is not None,
        )

    # -- parsing -------------------------------------------------------------------------

    async def prepare_off_loop(self, request: Mapping[str, Any]) -> Operation:
        """:meth:`prepare`; on a worker thread when the document is new and large enough to cost."""
        query = request.get("query")
        if not isinstance(query, str) or not is_heavy(len(query)):
            return self.prepare(request)
        if self.documents.cached(query, request.get("operationName")) is not None:
            return self.prepare(request)
        return await self.off_loop(self.prepare, request)

    async def off_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on one of the engine's worker threads (heavy, CPU-bound GraphQL work)."""
        return await asyncio.get_running_loop().run_in_executor(self._workers, fn, *args)

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)

    def prepare(self, request: Mapping[str, Any]) -> Operation:
        """Parse, bound and validate a ``{"query", "variables", "operationName"}`` request."""
        query = request.get("query")
        raw_variables = request.get("variables") or {}
        if not isinstance(query, str) or not query.strip() or not isinstance(raw_variables, dict):
            raise RequestRejected(MALFORMED_REQUEST, UNPARSABLE_QUERY)
        operation_name = request.get("operationName")
        checked = self.documents.check(query, operation_name if isinstance(operation_name, str) else None)
        coerced = get_variable_values(self.schema.schema, checked.operation.variable_definitions or (), raw_variables)
        if isinstance(coerced, list):
            raise ValidationFailure(coerced)
        return Operation(
            checked.document, checked.operation, coerced, raw_variables, checked.cost, checked.document_bytes
        )

    # -- execution -----------------------------------------------------------------------

    async def execute(self, operation: Operation, caller: Caller, headers: Mapping[str, str]) -> dict[str, Any]:
        """Run a query or mutation and fan out mutation results to subscriptions."""
        if operation.kind is OperationType.SUBSCRIPTION:
            raise RequestRejected(VALIDATION, "Validation error: subscriptions are served at /graphql/realtime")
        if operation.kind is OperationType.MUTATION and self.mutation_latency_s > 0:
            await asyncio.sleep(self.mutation_latency_s)
        context = RequestContext(caller=caller, headers=headers, operation=operation)
        if operation.heavy:
            response, data = await self.off_loop(self._execute_on_own_loop, operation, context)
        else:
            result = await self._run(operation, context)
            response, data = self._response(result), result.data
        if operation.kind is OperationType.MUTATION and self.on_mutation is not None and data:
            await self._fan_out(operation, data, self.on_mutation)
        return response

    def _execute_on_own_loop(
        self, operation: Operation, context: RequestContext
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """On a worker thread: run the operation to completion and shape the response.

        Returns the response (an error in place of data when it exceeds the response size
        limit) and the raw data, which mutation fan-out needs even then.
        """
        result = asyncio.run(self._run(operation, context))
        return self._response(result), result.data

    def _response(self, result: ExecutionResult) -> dict[str, Any]:
        """AppSync's response body; one error in place of it when over the response size limit."""
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [format_error(error, self.schema.schema) for error in result.errors]
        limit = self.limits.max_response_bytes
        if limit:
            size = len(json.dumps(response, separators=(",", ":")).encode())
            if size > limit:
                response = {
                    "data": None,
                    "errors": [
                        {
                            "errorType": RESPONSE_TOO_LARGE,
                            "message": f"the response is {size} bytes; the response size limit is {limit}",
                        }
                    ],
                }
        return response

    async def _run(self, operation: Operation, context: RequestContext) -> ExecutionResult:
        result = execute(
            self.schema.schema,
            operation.document,
            context_value=context,
            variable_values=operation.raw_variables,
            operation_name=operation.operation.name.value if operation.operation.name else None,
            field_resolver=self._resolve_field,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return result

    async def _fan_out(self, operation: Operation, data: Mapping[str, Any], listener: MutationListener) -> None:
        for node in operation.root_fields():
            name = node.name.value
            if name not in self.schema.triggers:
                continue
            value = data.get(node.alias.value if node.alias else name)
            if value is None:
                continue
            payload = by_field_name(value, node.selection_set, operation.fragments)
            await listener(name, payload)

    def _authorize(self, caller: Caller, type_name: str, field_name: str) -> None:
        modes = (
            self.schema.field_modes.get(f"{type_name}.{field_name}")
            or self.schema.type_modes.get(type_name)
            or frozenset({self.default_mode})
        )
        if caller.mode not in modes:
            raise field_error(f"Not Authorized to access {field_name} on type {type_name}", UNAUTHORIZED)

    async def _resolve_field(self, source: Any, info: GraphQLResolveInfo[Any], **arguments: Any) -> Any:
        context: RequestContext = info.context
        type_name, field_name = info.parent_type.name, info.field_name
        self._authorize(context.caller, type_name, field_name)
        spec = self.resolvers.resolver_for(type_name, field_name)
        if spec is None:
            return source.get(field_name) if isinstance(source, Mapping) else getattr(source, field_name, None)
        data_source = self.resolvers.data_source_of(spec)
        if data_source.type is DataSourceType.NONE:
            assert spec.builtin is not None  # ResolverMap.load refuses a NONE resolver without one
            return BUILTINS[spec.builtin](ResolverContext(arguments=arguments, identity=context.caller.identity))
        assert data_source.function is not None  # and a Lambda data source without a function
        function = self.functions[data_source.function]
        if spec.builtin is None:  # a direct Lambda resolver: exceptions are Lambda:Unhandled
            try:
                return await function.invoke(lambda_event(info, arguments, context))
            except LambdaInvocationError as error:
                raise field_error(error.error_message, LAMBDA_UNHANDLED) from None
        twin = LAMBDA_BUILTINS[spec.builtin]
        ctx = resolver_ctx(info, arguments, context)
        try:
            ctx["result"] = await function.invoke(twin.request(ctx)["payload"])
        except LambdaInvocationError as error:
            ctx["error"] = {"message": error.error_message, "type": LAMBDA_UNHANDLED}
        try:
            return twin.response(ctx)
        except UtilError as error:
            raise field_error(error.message, error.error_type or "", error.error_info) from None

    # -- subscriptions -------------------------------------------------------------------

    def subscription_field(self, operation: Operation) -> tuple[str, dict[str, Any]]:
        """The single root field of a subscription and its coerced arguments."""
        if operation.kind is not OperationType.SUBSCRIPTION:
            # AppSync's answer to a query or mutation sent to the real-time endpoint
            raise RequestRejected(
                UNSUPPORTED_OPERATION, f"{operation.kind.value} not supported through the realtime channel"
            )
        fields = operation.root_fields()
        if len(fields) != 1:
            raise RequestRejected(VALIDATION, "Validation error: a subscription must select exactly one field")
        node = fields[0]
        definition = self.schema.root_type("subscription").fields[node.name.value]
        return node.name.value, get_argument_values(definition, node, operation.variables)

    def subscribe(self, field_name: str, arguments: Mapping[str, Any], caller: Caller) -> dict[str, Any] | None:
        """Authorize a subscription and run its resolver; returns its enhanced filter, if any."""
        self._authorize(caller, self.schema.root_type("subscription").name, field_name)
        spec = self.resolvers.resolver_for(self.schema.root_type("subscription").name, field_name)
        if spec is None or spec.builtin is None:
            return None
        try:
            filter_spec: dict[str, Any] | None = BUILTINS[spec.builtin](
                ResolverContext(arguments=dict(arguments), identity=caller.identity)
            )
        except UtilError as error:
            raise field_error(error.message, error.error_type or "", error.error_info) from None
        return filter_spec

    def render(self, operation: Operation, field_name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A subscriber's view of a mutation result: its own selection over the fields the mutation selected."""
        result = execute(
            self.schema.schema,
            operation.document,
            root_value={field_name: payload},
            variable_values=operation.raw_variables,
            operation_name=operation.operation.name.value if operation.operation.name else None,
            field_resolver=_project,
        )
        assert isinstance(result, ExecutionResult)
        rendered: dict[str, Any] = {"data": result.data}
        if result.errors:
            rendered["errors"] = [format_error(error, self.schema.schema) for error in result.errors]
        return rendered


def _project(source: Any, info: GraphQLResolveInfo[Any], **_: Any) -> Any:
    return source.get(info.field_name) if isinstance(source, Mapping) else None

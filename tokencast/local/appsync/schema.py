"""Load ``graphql/schema.graphql`` the way AppSync does: verbatim, with AppSync's built-ins.

AppSync defines its scalars (``AWSDateTime``, ``AWSJSON`` ...) and directives
(``@aws_subscribe``, ``@aws_iam`` ...) implicitly; graphql-core needs them declared, so we
prepend their definitions and then read out what the emulator needs: which auth modes each
field and type allows, and which mutations trigger which subscription fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from graphql import (
    ConstDirectiveNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    ValueNode,
    build_schema,
    value_from_ast_untyped,
)
from tokencast.local.appsync.auth import DIRECTIVE_MODES, AuthMode

APPSYNC_DIRECTIVES = """
directive @aws_subscribe(mutations: [String!]!) on FIELD_DEFINITION
directive @aws_iam on OBJECT | FIELD_DEFINITION
directive @aws_api_key on OBJECT | FIELD_DEFINITION
directive @aws_cognito_user_pools(cognito_groups: [String]) on OBJECT | FIELD_DEFINITION
directive @aws_oidc on OBJECT | FIELD_DEFINITION
directive @aws_lambda on OBJECT | FIELD_DEFINITION
directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION
"""

APPSYNC_SCALARS = (
    "AWSDate",
    "AWSTime",
    "AWSDateTime",
    "AWSTimestamp",
    "AWSEmail",
    "AWSJSON",
    "AWSURL",
    "AWSPhone",
    "AWSIPAddress",
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{3,}$")


def _checked(name: str, check: Callable[[Any], bool]) -> Any:
    """A parser that raises AppSync-like messages for values that fail ``check``."""

    def parse(value: Any) -> Any:
        try:
            ok = check(value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise GraphQLError(f"Invalid {name} value: {value!r}")
        return value

    return parse


def _is_datetime(value: Any) -> bool:
    return isinstance(value, str) and bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and bool(date.fromisoformat(value.rstrip("Z")))


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and bool(
        re.fullmatch(r"\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}(:\d{2})?)?", value)
    )


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        raise GraphQLError(f"Invalid AWSJSON value: expected a JSON string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError as error:
        raise GraphQLError(f"Invalid AWSJSON value: {error}") from None


def _serialize_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


_VALIDATORS = {
    "AWSDate": _is_date,
    "AWSTime": _is_time,
    "AWSDateTime": _is_datetime,
    "AWSTimestamp": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "AWSEmail": lambda v: isinstance(v, str) and bool(_EMAIL.match(v)),
    "AWSURL": lambda v: isinstance(v, str) and "://" in v,
    "AWSPhone": lambda v: isinstance(v, str) and bool(_PHONE.match(v)),
    "AWSIPAddress": lambda v: isinstance(v, str) and bool(ip_address(v.split("/")[0])),
}


def _install_scalar(schema: GraphQLSchema, name: str) -> None:
    scalar = schema.type_map.get(name)
    if not isinstance(scalar, GraphQLScalarType):
        return
    # build_schema made these scalars from the SDL with graphql-core's defaults; AppSync's
    # semantics are installed on the instances (the documented way to customise a built schema).
    if name == "AWSJSON":
        scalar.serialize = _serialize_json  # type: ignore[method-assign]
        scalar.parse_value = _parse_json  # type: ignore[method-assign]
        scalar.parse_literal = lambda node, variables=None: _parse_json(  # type: ignore[method-assign]
            value_from_ast_untyped(node, variables)
        )
        return
    parse = _checked(name, _VALIDATORS[name])
    scalar.parse_value = parse  # type: ignore[method-assign]
    scalar.parse_literal = lambda node, variables=None: parse(  # type: ignore[method-assign]
        value_from_ast_untyped(node, variables)
    )


@dataclass(frozen=True)
class AppSyncSchema:
    """The executable schema plus AppSync's directive metadata, read once at start."""

    schema: GraphQLSchema
    #: "Type.field" -> the modes its directives allow (empty: the API's default mode only)
    field_modes: dict[str, frozenset[AuthMode]]
    #: type name -> the modes its directives allow (empty: default mode only)
    type_modes: dict[str, frozenset[AuthMode]]
    #: mutation field name -> subscription field names that fire on it
    triggers: dict[str, tuple[str, ...]]

    @classmethod
    def from_file(cls, path: str | Path) -> AppSyncSchema:
        return cls.from_sdl(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_sdl(cls, sdl: str) -> AppSyncSchema:
        declared = set(re.findall(r"^\s*scalar\s+(\w+)", sdl, flags=re.M))
        scalars = "".join(f"scalar {name}\n" for name in APPSYNC_SCALARS if name not in declared)
        schema = build_schema(APPSYNC_DIRECTIVES + scalars + sdl)
        for name in APPSYNC_SCALARS:
            _install_scalar(schema, name)

        field_modes: dict[str, frozenset[AuthMode]] = {}
        type_modes: dict[str, frozenset[AuthMode]] = {}
        triggers: dict[str, list[str]] = {}
        for type_name, named in schema.type_map.items():
            if type_name.startswith("__") or not isinstance(named, GraphQLObjectType):
                continue
            type_modes[type_name] = _modes(named.ast_node.directives if named.ast_node else ())
            for field_name, field in named.fields.items():
                directives = (field.ast_node.directives if field.ast_node else None) or ()
                field_modes[f"{type_name}.{field_name}"] = _modes(directives)
                for directive in directives:
                    if directive.name.value == "aws_subscribe":
                        for argument in directive.arguments:
                            if argument.name.value == "mutations":
                                for mutation in _literal(argument.value):
                                    triggers.setdefault(mutation, []).append(field_name)
        return cls(schema, field_modes, type_modes, {k: tuple(v) for k, v in triggers.items()})

    def root_type(self, operation: str) -> GraphQLObjectType:
        root = {
            "query": self.schema.query_type,
            "mutation": self.schema.mutation_type,
            "subscription": self.schema.subscription_type,
        }[operation]
        if root is None:
            raise GraphQLError(f"Schema is not configured for {operation}s.")
        return root

    def named_type(self, name: str) -> GraphQLNamedType | None:
        return self.schema.type_map.get(name)


def _modes(directives: Iterable[ConstDirectiveNode] | None) -> frozenset[AuthMode]:
    return frozenset(DIRECTIVE_MODES[d.name.value] for d in directives or () if d.name.value in DIRECTIVE_MODES)


def _literal(node: ValueNode) -> list[str]:
    value = value_from_ast_untyped(node)
    return list(value) if isinstance(value, list) else [value]

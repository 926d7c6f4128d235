"""The field → data source declaration (graphql/resolvers.json), typed.

The CDK app and the emulator both read the declaration through this module, so a field is
wired the same way in the cloud and on a laptop.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The repository's graphql/ folder (schema, declaration, APPSYNC_JS resolver code).
GRAPHQL_DIR = Path(__file__).resolve().parent.parent / "graphql"
SCHEMA_PATH = GRAPHQL_DIR / "schema.graphql"
DECLARATION_PATH = GRAPHQL_DIR / "resolvers.json"


class DataSourceType(StrEnum):
    AWS_LAMBDA = "AWS_LAMBDA"
    NONE = "NONE"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FunctionSpec(_Model):
    handler: str
    purpose: str = ""


class DataSourceSpec(_Model):
    type: DataSourceType
    function: str | None = None


class ResolverSpec(_Model):
    data_source: str = Field(alias="dataSource")
    #: APPSYNC_JS code run by AppSync, relative to the repository root
    code: str | None = None
    #: name in tokencast.local.appsync.builtins that the emulator runs instead of ``code``
    builtin: str | None = None


class ResolverMap(_Model):
    functions: dict[str, FunctionSpec]
    data_sources: dict[str, DataSourceSpec] = Field(alias="dataSources")
    resolvers: dict[str, ResolverSpec]

    @model_validator(mode="after")
    def _references_exist(self) -> ResolverMap:
        for name, source in self.data_sources.items():
            if source.type is DataSourceType.AWS_LAMBDA and source.function not in self.functions:
                raise ValueError(f"dataSources.{name}: unknown function {source.function!r}")
        for field, resolver in self.resolvers.items():
            if resolver.data_source not in self.data_sources:
                raise ValueError(f"resolvers.{field}: unknown dataSource {resolver.data_source!r}")
            if not (resolver.code and resolver.builtin):
                # Lambda fields too: invokeLambda.js is what gives their errors an errorType.
                raise ValueError(f"resolvers.{field}: every resolver needs both code and builtin")
        return self

    @classmethod
    def load(cls, path: Path = DECLARATION_PATH) -> ResolverMap:
        document = json.loads(path.read_text(encoding="utf-8"))
        document.pop("$comment", None)
        return cls.model_validate(document)

    def resolver_for(self, type_name: str, field_name: str) -> ResolverSpec | None:
        return self.resolvers.get(f"{type_name}.{field_name}")

    def data_source_of(self, resolver: ResolverSpec) -> DataSourceSpec:
        return self.data_sources[resolver.data_source]

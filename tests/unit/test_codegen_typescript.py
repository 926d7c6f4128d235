"""The TypeScript client's wire module is generated from the Python side and kept current.

A model, enum or SDK operation changed without `make generate` turns the suite red here, and
every document the TypeScript client sends is valid against graphql/schema.graphql.
"""

from __future__ import annotations

import json
import re

import pytest

from graphql import parse, validate
from tokencast.codegen import typescript
from tokencast.core import models
from tokencast.local.appsync.schema import AppSyncSchema
from tokencast.resolvers import SCHEMA_PATH

COMMITTED = typescript.OUTPUT.read_text(encoding="utf-8")


def _ts_strings() -> dict[str, str]:
    """The committed module's string constants (selections and documents), decoded."""
    return {name: json.loads(value) for name, value in re.findall(r'^export const (\w+) = (".*");$', COMMITTED, re.M)}


def _ts_interface_fields(name: str) -> list[str]:
    found = re.search(rf"^export interface {name} \{{\n(.*?)^\}}", COMMITTED, re.M | re.S)
    assert found, f"no interface {name} in {typescript.OUTPUT.name}"
    return re.findall(r"^  (\w+)\??:", found.group(1), re.M)


def test_the_committed_module_is_what_the_generator_writes_now():
    assert typescript.render() == COMMITTED, f"{typescript.OUTPUT} is stale: run `make generate` and commit it"


def test_the_typescript_client_sends_every_python_sdk_operation_verbatim():
    operations = typescript.operations()
    assert set(operations) == {
        "StartStream",
        "CancelStream",
        "GetSession",
        "GetEvents",
        "ListSessions",
        "OnTokenReceived",
    }
    strings = _ts_strings()
    for name, document in operations.items():
        assert strings[typescript.constant_name(name)] == document


@pytest.mark.parametrize("constant", [typescript.constant_name(name) for name in typescript.operations()])
def test_each_generated_document_validates_against_the_schema(constant):
    schema = AppSyncSchema.from_file(SCHEMA_PATH).schema
    document = _ts_strings()[constant]
    assert validate(schema, parse(document)) == []


@pytest.mark.parametrize(
    ("constant", "selection"),
    [
        ("EVENT_FIELDS", models.EVENT_SELECTION),
        ("SESSION_FIELDS", models.SESSION_SELECTION),
        ("SUMMARY_FIELDS", models.SUMMARY_SELECTION),
    ],
)
def test_the_selections_are_the_models(constant, selection):
    assert _ts_strings()[constant] == selection


@pytest.mark.parametrize(
    ("interface", "model"),
    [
        ("TokenEvent", models.TokenEvent),
        ("Session", models.Session),
        ("SessionSummary", models.SessionSummary),
        ("Usage", models.Usage),
    ],
)
def test_each_typescript_interface_has_exactly_its_models_fields_in_order(interface, model):
    assert tuple(_ts_interface_fields(interface)) == models.wire_fields(model)


def test_the_generated_types_keep_nullability_and_open_enums():
    event = re.search(r"^export interface TokenEvent \{\n(.*?)^\}", COMMITTED, re.M | re.S)
    assert event
    body = event.group(1)
    for line in (
        "  sessionId: string;",
        "  type: EventType | string;",
        "  isComplete: boolean;",
        "  usage: Usage | null;",
    ):
        assert line in body.splitlines()
    assert "  inputTokens?: number;" in COMMITTED  # usage keeps only the counts the model reported


def test_check_mode_fails_on_a_stale_file_and_passes_once_written(tmp_path, capsys):
    target = tmp_path / "wire.generated.ts"
    assert typescript.main(["--check", "--output", str(target)]) == 1  # missing
    assert typescript.main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == typescript.render()
    assert typescript.main(["--check", "--output", str(target)]) == 0
    target.write_text(target.read_text(encoding="utf-8").replace("sessionId", "sessionID", 1), encoding="utf-8")
    assert typescript.main(["--check", "--output", str(target)]) == 1
    assert "make generate" in capsys.readouterr().err


def test_a_field_type_without_a_typescript_spelling_is_refused():
    with pytest.raises(TypeError, match="no TypeScript spelling"):
        typescript._ts_type(dict[str, int])

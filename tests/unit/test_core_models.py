"""The wire models are the schema's types, and every field list derives from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from gql import GraphQLRequest

import tokencast.client as sdk
from graphql import (
    FieldNode,
    InputObjectTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_ast,
)
from tokencast.client import api
from tokencast.client.realtime import ON_TOKEN_RECEIVED
from tokencast.core import models
from tokencast.core.publisher import PUBLISH_MUTATION
from tokencast.core.records import SessionRecord
from tokencast.events import EventType, SessionStatus

SCHEMA = parse(Path(__file__).resolve().parents[2].joinpath("graphql", "schema.graphql").read_text())
MODELS = {
    "TokenEvent": models.TokenEvent,
    "Session": models.Session,
    "SessionSummary": models.SessionSummary,
    "Usage": models.Usage,
}


def _type(name: str) -> ObjectTypeDefinitionNode | InputObjectTypeDefinitionNode:
    for definition in SCHEMA.definitions:
        if isinstance(definition, ObjectTypeDefinitionNode | InputObjectTypeDefinitionNode) and (
            definition.name.value == name
        ):
            return definition
    raise AssertionError(f"no type {name} in the schema")


def _schema_fields(name: str) -> tuple[str, ...]:
    return tuple(f.name.value for f in _type(name).fields or ())


def _selected(selection_set: SelectionSetNode | None) -> list[object]:
    """A selection set as a comparable list: names, and (name, [...]) for nested objects."""
    out: list[object] = []
    for node in selection_set.selections if selection_set else ():
        assert isinstance(node, FieldNode)
        out.append((node.name.value, _selected(node.selection_set)) if node.selection_set else node.name.value)
    return out


def _root_selection(document: str) -> list[object]:
    (operation,) = parse(document).definitions
    assert isinstance(operation, OperationDefinitionNode)
    (root,) = operation.selection_set.selections
    assert isinstance(root, FieldNode)
    return _selected(root.selection_set)


def _expected(model: type[models.WireModel]) -> list[object]:
    return [
        (alias, _expected(models.Usage)) if alias == "usage" else alias
        for alias in models.wire_fields(model)  # Usage is the only nested type
    ]


@pytest.mark.parametrize("type_name", sorted(MODELS))
def test_each_model_has_exactly_its_schema_types_fields_in_order(type_name):
    assert models.wire_fields(MODELS[type_name]) == _schema_fields(type_name)


def test_publish_token_takes_every_event_field_and_usage_input_mirrors_usage():
    mutation = _type("Mutation")
    (publish,) = [f for f in mutation.fields or () if f.name.value == "publishToken"]
    assert tuple(a.name.value for a in publish.arguments or ()) == models.EVENT_FIELDS
    assert _schema_fields("UsageInput") == models.USAGE_FIELDS


def test_selection_lists_every_field_and_expands_usage():
    assert models.selection(models.Usage) == "inputTokens outputTokens totalTokens"
    assert "usage { inputTokens outputTokens totalTokens }" in models.EVENT_SELECTION
    assert models.selection(models.TokenEvent, exclude=frozenset({"owner", "usage"})).split() == [
        f for f in models.EVENT_FIELDS if f not in ("owner", "usage")
    ]


def test_the_publish_mutation_selects_every_event_field_including_what_the_filter_reads():
    selected = _root_selection(PUBLISH_MUTATION)
    assert selected == _expected(models.TokenEvent)
    # graphql/resolvers/onTokenReceived.js filters on these: a publish without them reaches no one.
    assert {"sessionId", "owner", "visibility"} <= {f for f in selected if isinstance(f, str)}


def test_the_publish_mutation_passes_every_event_field_through():
    (operation,) = parse(PUBLISH_MUTATION).definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert tuple(v.variable.name.value for v in operation.variable_definitions) == models.EVENT_FIELDS
    (root,) = operation.selection_set.selections
    assert isinstance(root, FieldNode)
    assert tuple(a.name.value for a in root.arguments) == models.EVENT_FIELDS


def test_the_sdk_selects_every_field_of_each_type():
    for request, model in (
        (api.START_STREAM, models.Session),
        (api.CANCEL_STREAM, models.Session),
        (api.GET_SESSION, models.Session),
    ):
        assert _root_selection(_document(request)) == _expected(model)
    (items, *_) = _root_selection(_document(api.GET_EVENTS))
    assert items == ("items", _expected(models.TokenEvent))
    (rows, *_) = _root_selection(_document(api.LIST_SESSIONS))
    assert rows == ("items", _expected(models.SessionSummary))
    assert _root_selection(_document(ON_TOKEN_RECEIVED)) == _expected(models.TokenEvent)


def _document(request: GraphQLRequest) -> str:
    return print_ast(request.document)


def test_the_sdk_hands_out_the_wire_models_themselves():
    """One class per GraphQL type: the SDK's TokenEvent is the core's, not a look-alike."""
    assert (sdk.TokenEvent, sdk.Session, sdk.SessionSummary, sdk.Usage) == (
        models.TokenEvent,
        models.Session,
        models.SessionSummary,
        models.Usage,
    )


def test_sdk_parsing_is_tolerant_of_partial_nulls_and_newer_values():
    event = models.TokenEvent.from_graphql(
        {"sessionId": "s", "attempt": "2", "seq": 3, "type": "NEWER", "token": None, "usage": {"inputTokens": 4}}
    )
    assert (event.session_id, event.attempt, event.seq, event.type, event.token) == ("s", 2, 3, "NEWER", "")
    assert event.usage == models.Usage(input_tokens=4) and event.owner is None and not event.is_terminal
    assert models.TokenEvent.from_graphql({"sessionId": "s", "attempt": 1, "seq": 1, "type": "COMPLETED"}).is_terminal
    with pytest.raises(ValueError):
        models.TokenEvent.from_graphql({"sessionId": "s", "attempt": 1, "type": "TOKEN"})
    with pytest.raises(ValueError):
        models.TokenEvent.from_graphql({"sessionId": None, "attempt": 1, "seq": 1, "type": "TOKEN"})
    info = models.Session.from_graphql({"sessionId": "s", "status": "PAUSED", "attempt": None, "text": None})
    assert (info.status, info.attempt, info.text, info.is_final) == ("PAUSED", 0, "", False)


def test_a_stored_session_reaches_the_sdk_unchanged():
    record = SessionRecord(
        session_id="s",
        status=SessionStatus.COMPLETED,
        owner="alice",
        visibility="SHARED",
        model_id="m",
        attempt=2,
        last_seq=9,
        text="hello",
        message="completed",
        usage={"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
        stop_reason="end_turn",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:01.000Z",
    )
    wire = record.to_graphql()
    assert tuple(wire) == models.SESSION_FIELDS and wire["status"] == "COMPLETED"
    info = models.Session.from_graphql(wire)
    assert info.status is SessionStatus.COMPLETED and info.is_final
    assert (info.text, info.last_seq, info.timestamp, info.owner) == ("hello", 9, record.updated_at, "alice")
    assert info.usage is not None and info.usage.to_graphql() == record.usage
    assert info.stop_reason == "end_turn" and info.model_id == "m"
    assert isinstance(models.TokenEvent.from_graphql({**wire, "seq": 1, "type": "TOKEN"}).type, EventType)

"""Converse request validation, with Bedrock's ``ValidationException`` messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokencast.local.bedrock import text
from tokencast.local.bedrock.errors import BedrockError


@dataclass(frozen=True)
class ConverseRequest:
    """A validated Converse request."""

    model_id: str
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]]
    max_tokens: int
    seed: int


def validate(model_id: str, body: Any, default_seed: int) -> ConverseRequest:
    """Check a Converse body the way Bedrock does; raise ``ValidationException`` naming the field."""

    def invalid(message: str) -> BedrockError:
        return BedrockError("ValidationException", message)

    if not isinstance(body, dict):
        raise invalid("Malformed input request, please reformat your input and try again.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role must be user or assistant.")
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            if i == 0:
                raise invalid(
                    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
                )
            raise invalid(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
            )
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise invalid(
                f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(content):
            if not isinstance(block, dict) or "text" not in block:
                kind = next(iter(block), "unknown") if isinstance(block, dict) and block else "unknown"
                raise invalid(
                    f"This model doesn't support the {kind} content block at messages.{i}.content.{j}. Use text only."
                )
            if not isinstance(block["text"], str) or not block["text"].strip():
                raise invalid(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                )
    if messages[-1]["role"] != "user":
        raise invalid(
            "A conversation must end with a user message. Try again with a conversation that ends with a user message."
        )

    system = body.get("system", [])
    if not isinstance(system, list):
        raise invalid("system must be a list of SystemContentBlock objects.")
    for k, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str) or not block["text"].strip():
            raise invalid(
                f"The text field in the SystemContentBlock object at system.{k} is blank. Add text to the text field, and try again."
            )

    inference = body.get("inferenceConfig", {})
    if not isinstance(inference, dict):
        raise invalid("inferenceConfig must be an object.")
    max_tokens = inference.get("maxTokens", text.DEFAULT_MAX_TOKENS)
    if not is_int(max_tokens) or max_tokens < 1:
        raise invalid("inferenceConfig.maxTokens must be a positive integer.")
    if max_tokens > text.MAX_OUTPUT_TOKENS:
        raise invalid(
            f"The maximum tokens you requested exceeds the model limit of {text.MAX_OUTPUT_TOKENS}. Try again with a maximum tokens value that is lower than {text.MAX_OUTPUT_TOKENS}."
        )
    for name in ("temperature", "topP"):
        value = inference.get(name)
        if value is not None and (not is_number(value) or not 0 <= value <= 1):
            raise invalid(f"inferenceConfig.{name} must be a number between 0 and 1.")

    extra = body.get("additionalModelRequestFields", {})
    if not isinstance(extra, dict):
        raise invalid("additionalModelRequestFields must be an object.")
    seed = extra.get("seed", default_seed)
    if not is_int(seed):
        raise invalid("additionalModelRequestFields.seed must be an integer.")
    return ConverseRequest(model_id, messages, system, max_tokens, seed)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

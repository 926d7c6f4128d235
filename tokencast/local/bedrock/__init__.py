"""A local stand-in for Amazon Bedrock: the ConverseStream (and Converse) API on aiohttp.

The unmodified boto3 ``bedrock-runtime`` client reaches it through
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``; it answers with deterministic text
(:mod:`~tokencast.local.bedrock.text`) framed as AWS event streams
(:mod:`~tokencast.local.bedrock.eventstream`), and lets tests inject faults
(:mod:`~tokencast.local.bedrock.faults`).
"""

from tokencast.local.bedrock.server import (
    FaultRule,
    LocalBedrock,
    LocalBedrockConfig,
    ThreadedServer,
    prompt_fingerprint,
)
from tokencast.local.bedrock.text import Generation, count_input_tokens, expected_text, generate, generate_tokens

__all__ = [
    "FaultRule",
    "Generation",
    "LocalBedrock",
    "LocalBedrockConfig",
    "ThreadedServer",
    "count_input_tokens",
    "expected_text",
    "generate",
    "generate_tokens",
    "prompt_fingerprint",
]

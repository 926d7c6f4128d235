"""Bedrock's modelled errors, as this stand-in answers them (status codes, error types)."""

from __future__ import annotations

from typing import Literal

#: Modelled Bedrock errors this endpoint can answer with, and their HTTP status codes.
HTTP_ERRORS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

#: In-stream exceptions of ConverseStream (event names of the ``ConverseStreamOutput`` union),
#: and the HTTP error the non-streaming Converse answers with instead.
StreamException = Literal[
    "modelStreamErrorException",
    "internalServerException",
    "throttlingException",
    "serviceUnavailableException",
    "validationException",
]
STREAM_TO_HTTP_ERROR: dict[str, str] = {
    "modelStreamErrorException": "ModelErrorException",
    "internalServerException": "InternalServerException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
    "validationException": "ValidationException",
}

ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


class BedrockError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, HTTP_ERRORS[code]


def fault_message(code: str) -> str:
    return f"{code} injected by the local model's fault rules."

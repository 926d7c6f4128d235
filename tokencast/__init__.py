"""tokencast: stream LLM output token by token to every AppSync subscriber of a session."""

__version__ = "0.1.0"

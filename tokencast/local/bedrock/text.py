"""Deterministic text for the local model, the stand-in for Amazon Bedrock used by ``tokencast up``.

Tests all over the project need to know what "the model's output" is, so that they can
assert that every subscriber ended with exactly that text. The local model therefore
derives its answer from nothing but the request: the conversation (system and messages),
a seed and ``maxTokens``. Anyone can call :func:`expected_text` with the same inputs and get
the same string the endpoint streamed, in any process, on any Python version (the
pseudo-random generator is spelled out here rather than borrowed from :mod:`random`).

The output is word-level prose: a token is a word with its leading space, a punctuation
mark, or a paragraph break. The answer's natural length is chosen by the hash of the
conversation (between :data:`MIN_NATURAL_TOKENS` and :data:`MAX_NATURAL_TOKENS`) and always
ends a sentence, unless the last user message contains a ``[tokens=N]`` directive, which
asks for at least N tokens (handy for long streams in cancel and load tests). When
``maxTokens`` is smaller than the natural length the answer is cut there and the stop
reason is ``max_tokens``; otherwise it is ``end_turn``.

Token counts follow one simple rule, so tests can predict usage: input tokens are the
whitespace-separated words of the system prompts and all message texts (at least 1), and
output tokens are the tokens streamed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: Used when a request has no ``inferenceConfig.maxTokens``: the local model's own maximum.
DEFAULT_MAX_TOKENS = 4096
#: The largest ``maxTokens`` (and ``[tokens=N]``) the local model accepts.
MAX_OUTPUT_TOKENS = 8192
MIN_NATURAL_TOKENS = 40
MAX_NATURAL_TOKENS = 200

#: A conversation: a plain prompt (one user message) or Converse ``messages``.
Messages = str | Sequence[Mapping[str, Any]]
#: System prompts: a string or Converse ``system`` blocks (``[{"text": ...}]``); None for none.
System = str | Sequence[Mapping[str, Any]] | None
StopReason = Literal["end_turn", "max_tokens"]

_LENGTH_DIRECTIVE = re.compile(r"\[tokens=(\d{1,6})\]")
_MASK64 = (1 << 64) - 1

_OPENERS = ("The", "A", "Every", "This", "Each", "Our", "That", "One")
_ADJECTIVES = (
    "quiet",
    "steady",
    "bright",
    "careful",
    "simple",
    "patient",
    "distant",
    "small",
    "open",
    "curious",
    "narrow",
    "gentle",
    "early",
    "clear",
    "warm",
    "ordinary",
    "hidden",
    "useful",
)
_NOUNS = (
    "river",
    "signal",
    "garden",
    "stream",
    "window",
    "message",
    "harbor",
    "lantern",
    "map",
    "bridge",
    "letter",
    "engine",
    "morning",
    "question",
    "journey",
    "pattern",
    "story",
    "field",
    "city",
    "answer",
    "token",
    "channel",
    "library",
    "season",
    "path",
    "idea",
)
_VERBS = (
    "carries",
    "follows",
    "reaches",
    "shapes",
    "holds",
    "finds",
    "crosses",
    "returns to",
    "waits for",
    "remembers",
    "opens",
    "builds",
    "reflects",
    "gathers",
    "explains",
    "keeps",
)
_ADVERBS = ("slowly", "quietly", "always", "often", "gently", "again", "still", "rarely", "soon")
_LINKS = ("and", "while", "because", "so", "but", "until", "where", "as")
_PREPOSITIONS = ("across", "toward", "beyond", "under", "along", "through", "near", "past")
_DETERMINERS = ("the", "a", "every", "each", "another", "some")


@dataclass(frozen=True)
class Generation:
    """What the local model answers to one request."""

    tokens: tuple[str, ...]
    stop_reason: StopReason
    input_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def output_tokens(self) -> int:
        return len(self.tokens)


class _SplitMix64:
    """A tiny, fully specified PRNG so the text never changes with the Python version."""

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK64

    def next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n

    def choice(self, options: Sequence[str]) -> str:
        return options[self.below(len(options))]

    def chance(self, percent: int) -> bool:
        return self.below(100) < percent


def normalize_messages(messages: Messages) -> list[tuple[str, list[str]]]:
    """``(role, [texts])`` pairs; a plain string is one user message. Non-text blocks are ignored."""
    if isinstance(messages, str):
        return [("user", [messages])]
    return [
        (
            str(m.get("role", "")),
            [str(b["text"]) for b in m.get("content") or () if isinstance(b, Mapping) and "text" in b],
        )
        for m in messages
    ]


def normalize_system(system: System) -> list[str]:
    """System prompt texts; None, ``""`` and ``[]`` are all "no system prompt"."""
    if system is None:
        return []
    if isinstance(system, str):
        return [system] if system else []
    return [str(b["text"]) for b in system if isinstance(b, Mapping) and "text" in b]


def last_user_text(messages: Messages) -> str:
    """The text of the last user message: what fault rules match and directives are read from."""
    for role, texts in reversed(normalize_messages(messages)):
        if role == "user":
            return "\n".join(texts)
    return ""


def count_input_tokens(messages: Messages, system: System = None) -> int:
    """Input tokens: words (whitespace separated) of all system and message texts, at least 1."""
    texts = normalize_system(system) + [t for _, ts in normalize_messages(messages) for t in ts]
    return max(1, sum(len(t.split()) for t in texts))


def _conversation_seed(messages: Messages, system: System, seed: int) -> int:
    canonical = json.dumps(
        {"seed": seed, "system": normalize_system(system), "messages": normalize_messages(messages)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big")


def _natural_length(rng: _SplitMix64, messages: Messages) -> int:
    directive = _LENGTH_DIRECTIVE.search(last_user_text(messages))
    if directive:
        return min(MAX_OUTPUT_TOKENS, max(1, int(directive.group(1))))
    return MIN_NATURAL_TOKENS + rng.below(MAX_NATURAL_TOKENS - MIN_NATURAL_TOKENS + 1)


def _noun_phrase(rng: _SplitMix64) -> list[str]:
    words = [rng.choice(_DETERMINERS)]
    if rng.chance(45):
        words.append(rng.choice(_ADJECTIVES))
    words.append(rng.choice(_NOUNS))
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return words


def _sentence(rng: _SplitMix64) -> list[str]:
    """One sentence as words and punctuation marks (spacing is applied later)."""
    words = [rng.choice(_OPENERS)]
    if rng.chance(50):
        words.append(rng.choice(_ADJECTIVES))
    words.append(rng.choice(_NOUNS))
    if words[0] == "A" and words[1][0] in "aeiou":
        words[0] = "An"
    if rng.chance(30):
        words.append(rng.choice(_ADVERBS))
    words.append(rng.choice(_VERBS))
    words += _noun_phrase(rng)
    for _ in range(rng.below(3)):
        if rng.chance(50):
            words += [rng.choice(_PREPOSITIONS), *_noun_phrase(rng)]
        else:
            words += [",", rng.choice(_LINKS), *_noun_phrase(rng), rng.choice(_VERBS), *_noun_phrase(rng)]
    words.append("." if rng.chance(85) else rng.choice(("?", "!")))
    return words


def _natural_tokens(rng: _SplitMix64, length: int) -> Iterator[str]:
    """Whole sentences, with paragraph breaks, until at least ``length`` tokens were produced."""
    produced, sentences_in_paragraph, paragraph_size = 0, 0, 3 + rng.below(3)
    start_of_paragraph = True
    while produced < length:
        if sentences_in_paragraph == paragraph_size:
            yield "\n\n"
            produced += 1
            sentences_in_paragraph, paragraph_size, start_of_paragraph = 0, 3 + rng.below(3), True
            continue
        for word in (part for phrase in _sentence(rng) for part in phrase.split(" ")):
            if word in ",.?!":
                yield word
            else:
                yield word if start_of_paragraph else " " + word
                start_of_paragraph = False
            produced += 1
        sentences_in_paragraph += 1


def generate(
    messages: Messages, system: System = None, seed: int = 0, max_tokens: int = DEFAULT_MAX_TOKENS
) -> Generation:
    """The local model's full answer to a conversation: tokens, stop reason and input tokens."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    rng = _SplitMix64(_conversation_seed(messages, system, seed))
    natural = list(_natural_tokens(rng, _natural_length(rng, messages)))
    capped = len(natural) > max_tokens
    return Generation(
        tokens=tuple(natural[:max_tokens]),
        stop_reason="max_tokens" if capped else "end_turn",
        input_tokens=count_input_tokens(messages, system),
    )


def generate_tokens(
    messages: Messages, system: System = None, seed: int = 0, max_tokens: int = DEFAULT_MAX_TOKENS
) -> list[str]:
    """The tokens the local model streams, one per ``contentBlockDelta``."""
    return list(generate(messages, system, seed, max_tokens).tokens)


def expected_text(
    messages: Messages, system: System = None, seed: int = 0, max_tokens: int = DEFAULT_MAX_TOKENS
) -> str:
    """The full text the local model answers; what every subscriber must end up with."""
    return generate(messages, system, seed, max_tokens).text

"""How ``tokencast stream`` / ``watch`` show an answer: text, plus a live status line on a terminal.

Three displays, picked by :func:`open_display` from what is attached:

* :class:`JsonDisplay` (``--json``): one JSON object per line on stdout, each with the
  ``sessionId``; nothing else on stdout.
* :class:`PlainDisplay` (stdout piped and stderr not a terminal, e.g. in scripts and CI): the
  text as it arrives; a dropped connection, or 10 s without a token, as one plain line on
  stderr. No escape codes.
* :class:`LiveDisplay` (a terminal is attached): a ``rich`` live status line -- time to first
  token, tokens per second, a stall indicator, "reconnecting…" -- under the text when stdout
  is the terminal (finished lines scroll above it, the line being written stays in the live
  area), or alone on stderr when stdout is redirected.

Tokens per second are estimated from characters while streaming (about 4 per token, the
usual rule of thumb for English); the final line uses the model's own token count.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Protocol, TextIO

#: no new text for this long (after the first token, or while waiting for it) shows as a stall
STALL_AFTER_S = 3.0
#: without a terminal, one plain line on stderr says so after this long without a token
PLAIN_STALL_NOTE_S = 10.0
_CHARS_PER_TOKEN = 4.0
#: stop reasons that mean the model finished its answer by itself
NATURAL_STOP_REASONS = frozenset({"end_turn", "stop_sequence"})
_STOP_REASONS = {
    "max_tokens": "cut off by the token limit: raise --max-tokens for more",
    "guardrail_intervened": "stopped by a guardrail",
    "content_filtered": "stopped by the content filter",
    "tool_use": "the model asked for a tool, which tokencast does not run",
}


def stop_note(stop_reason: str | None) -> str | None:
    """What to tell a reader about how the answer ended; None for a natural end."""
    if not stop_reason or stop_reason in NATURAL_STOP_REASONS:
        return None
    return _STOP_REASONS.get(stop_reason, f"stopped early ({stop_reason})")


def summary(result: Any) -> str:
    """``[COMPLETED, 69 tokens]``, ``[COMPLETED, 1024 tokens; cut off by the token limit: ...]``."""
    usage = getattr(result, "usage", None)
    parts = [str(result.status)]
    if usage is not None and usage.output_tokens is not None:
        parts.append(f"{usage.output_tokens} tokens")
    head = ", ".join(parts)
    notes = [n for n in (stop_note(getattr(result, "stop_reason", None)), getattr(result, "error", None)) if n]
    return f"[{head}{'; ' + '; '.join(notes) if notes else ''}]"


@dataclass
class Progress:
    """Timing of one stream as the reader sees it (monotonic seconds)."""

    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    first_text: float | None = None
    last_text: float | None = None
    chars: int = 0
    reconnecting: bool = False

    def __post_init__(self) -> None:
        self.started = self.clock()

    def saw(self, text: str) -> None:
        now = self.clock()
        if text and self.first_text is None:
            self.first_text = now
        if text:
            self.last_text = now
            self.chars += len(text)

    def restarted(self) -> None:
        self.chars = 0

    def quiet_s(self) -> float:
        """Seconds since the last text (or since the start, before the first token)."""
        return self.clock() - (self.last_text if self.last_text is not None else self.started)

    def line(self) -> str:
        """The status line: ``TTFT 0.31s · ≈152 tok/s · 4.2s`` or what is being waited for."""
        now = self.clock()
        elapsed = now - self.started
        if self.reconnecting:
            return f"reconnecting… (connection lost; {elapsed:.0f}s)"
        if self.first_text is None:
            stalled = " — nothing yet, is the model slow or stalled?" if elapsed >= STALL_AFTER_S else ""
            return f"waiting for the first token… {elapsed:.1f}s{stalled}"
        ttft = self.first_text - self.started
        assert self.last_text is not None
        quiet = now - self.last_text
        streaming_s = max(self.last_text - self.first_text, 1e-3)
        rate = self.chars / _CHARS_PER_TOKEN / streaming_s if self.last_text > self.first_text else 0.0
        head = f"TTFT {ttft:.2f}s · ≈{rate:.0f} tok/s · {elapsed:.1f}s"
        if quiet >= STALL_AFTER_S:
            return f"{head} · stalled: no tokens for {quiet:.0f}s"
        return head


class Display(Protocol):
    progress: Progress

    def start(self) -> None: ...
    def text(self, text: str) -> None: ...
    def restarted(self, attempt: int) -> None: ...
    def delta(self, delta: Any) -> None: ...
    def tick(self) -> None: ...
    def note(self, line: str) -> None: ...
    def finish(self, result: Any) -> None: ...
    def stop(self) -> None: ...


def plain(value: Any) -> Any:
    """A dataclass or pydantic value (and the models inside a dataclass) as JSON-ready data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    return value


class PlainDisplay:
    """Text to ``out``; notes (session id, reconnecting, interrupts) as lines on ``err``."""

    def __init__(self, session_id: str, out: TextIO, err: TextIO) -> None:
        self.session_id, self.out, self.err = session_id, out, err
        self.progress = Progress()
        self._said_reconnecting = False
        self._said_stalled = False

    def start(self) -> None:
        self.note(f"[session {self.session_id}]")

    def text(self, text: str) -> None:
        self.progress.saw(text)
        self.out.write(text)
        self.out.flush()

    def restarted(self, attempt: int) -> None:
        self.progress.restarted()
        self.out.write(f"\n[attempt {attempt} restarts the answer]\n")
        self.out.flush()

    def delta(self, delta: Any) -> None:
        """One :class:`~tokencast.client.Delta`: new text, or a restart of the answer."""
        if delta.restarted:
            self.restarted(delta.attempt)
        else:
            self.text(delta.text)

    def tick(self) -> None:
        quiet = self.progress.quiet_s()
        if quiet >= PLAIN_STALL_NOTE_S and not self._said_stalled:
            self.note(f"[no tokens for {quiet:.0f}s; still waiting (Ctrl-C cancels)]")
        self._said_stalled = quiet >= PLAIN_STALL_NOTE_S
        if self.progress.reconnecting and not self._said_reconnecting:
            self.note("[reconnecting… the connection to the API was lost]")
        elif not self.progress.reconnecting and self._said_reconnecting:
            self.note("[reconnected]")
        self._said_reconnecting = self.progress.reconnecting

    def note(self, line: str) -> None:
        self.err.write(line + "\n")
        self.err.flush()

    def finish(self, result: Any) -> None:
        self.out.write(f"\n\n{summary(result)}\n")
        self.out.flush()

    def stop(self) -> None:
        pass


class JsonDisplay(PlainDisplay):
    """``--json``: one object per delta, then ``{"sessionId": ..., "result": {...}}``."""

    def start(self) -> None:
        pass

    def delta(self, delta: Any) -> None:
        self.progress.saw(getattr(delta, "text", ""))
        self.out.write(json.dumps({"sessionId": self.session_id, **plain(delta)}) + "\n")
        self.out.flush()

    def finish(self, result: Any) -> None:
        self.out.write(json.dumps({"sessionId": self.session_id, "result": plain(result)}) + "\n")
        self.out.flush()


class LiveDisplay(PlainDisplay):
    """A ``rich`` live status line on a terminal (see the module docstring)."""

    def __init__(self, session_id: str, out: TextIO, err: TextIO, *, text_on_terminal: bool) -> None:
        super().__init__(session_id, out, err)
        from rich.console import Console

        self._text_on_terminal = text_on_terminal
        # The live area is drawn where the text goes when that is the terminal, else on stderr.
        self.console = Console(file=out if text_on_terminal else err, highlight=False, markup=False)
        self._partial = ""
        self._live: Any = None

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        status = Text(self.progress.line(), style="yellow" if "stall" in self.progress.line() else "dim")
        if self._text_on_terminal and self._partial:
            return Group(Text(self._partial), status)
        return status

    def start(self) -> None:
        from rich.live import Live

        self.note(f"[session {self.session_id}]")
        self._live = Live(
            self,
            console=self.console,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def text(self, text: str) -> None:
        self.progress.saw(text)
        if not self._text_on_terminal:
            super().text(text)
            return
        # Finished lines go above the live area; the line being written stays in it.
        from rich.text import Text

        self._partial += text
        *done, self._partial = self._partial.split("\n")
        width = max(self.console.width, 20)
        if len(self._partial) > width:
            wrapped = Text(self._partial).wrap(self.console, width)
            done += [line.plain for line in wrapped[:-1]]
            self._partial = wrapped[-1].plain
        for line in done:
            self.console.print(Text(line), soft_wrap=True)

    def restarted(self, attempt: int) -> None:
        if self._text_on_terminal:
            self.text(f"\n[attempt {attempt} restarts the answer]\n")
            self.progress.restarted()
        else:
            super().restarted(attempt)

    def tick(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def note(self, line: str) -> None:
        if self._live is None:
            super().note(line)
            return
        from rich.text import Text

        self.console.print(Text(line))  # above the live area, on the terminal it is drawn on

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._partial:
            self.out.write(self._partial)
            self.out.flush()
            self._partial = ""

    def finish(self, result: Any) -> None:
        self.stop()
        super().finish(result)


def open_display(session_id: str, *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> Display:
    out, err = out or sys.stdout, err or sys.stderr
    if as_json:
        return JsonDisplay(session_id, out, err)
    out_tty, err_tty = _isatty(out), _isatty(err)
    if out_tty or err_tty:
        return LiveDisplay(session_id, out, err, text_on_terminal=out_tty)
    return PlainDisplay(session_id, out, err)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

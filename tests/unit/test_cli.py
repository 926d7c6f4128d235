"""The CLI's pure parts: argument help, error explanations, the status line, log compaction."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from tokencast.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError, explain, reported
from tokencast.cli.logs import MAX_LINE, compact_line
from tokencast.cli.main import build_parser
from tokencast.cli.status import JsonDisplay, LiveDisplay, PlainDisplay, Progress, stop_note, summary
from tokencast.client import Delta, StreamResult, Usage
from tokencast.client import errors as client


def _parsers(parser: argparse.ArgumentParser, path: str = "tokencast"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = [
        f"{path} {action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
        and not action.help
    ]
    assert missing == []


def test_every_subcommand_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    commands = [path for path, _ in _parsers(build_parser()) if path != "tokencast"]
    assert [c for c in commands if f"`{c}" not in readme] == []


def test_token_has_no_group_option_that_would_do_nothing():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["token", "--user", "a", "--group", "admins"])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("input.maxTokens: must be between 1 and 4096", "--max-tokens must be between 1 and 4096"),
        ("prompt: must not be empty", "the prompt must not be empty"),
        (
            "input.temperature: must be between 0 and 1; input.sessionId: must be a UUID (8-4-4-4-12 hex digits)",
            "--temperature must be between 0 and 1; --session-id must be a UUID (8-4-4-4-12 hex digits)",
        ),
    ],
)
def test_invalid_input_names_the_option(message, expected):
    explained = explain(client.InvalidRequest(message, error_type="Lambda:Unhandled"))
    assert explained is not None and explained.message == expected and explained.code == EXIT_USAGE
    assert explained.hint


def test_a_conflict_from_the_api_is_typed_by_error_type_only():
    by_type = client.error_from_graphql([{"errorType": "Conflict", "message": "whatever"}])
    # The words alone are never parsed (the API types every error with util.error).
    by_message = client.error_from_graphql(
        [{"errorType": "Lambda:Unhandled", "message": "input.sessionId: already used by a different request; ..."}]
    )
    assert isinstance(by_type, client.Conflict) and not isinstance(by_message, client.Conflict)


def test_a_quota_refusal_says_what_to_do_from_its_error_info():
    active = client.error_from_graphql(
        [{"errorType": "Quota", "message": "startStream: at most 5 active sessions per caller", "errorInfo": {}}]
    )
    per_minute = client.error_from_graphql(
        [
            {
                "errorType": "Quota",
                "message": "startStream: at most 20 starts per minute",
                "errorInfo": {"retryAfterSeconds": 12},
            }
        ]
    )
    explained = explain(active, url=None, local=True), explain(per_minute, url=None, local=True)
    assert all(e is not None and e.code == 1 for e in explained)
    assert "cancel" in (explained[0].hint or "") and explained[1].hint == "try again in 12 s"


def test_connection_lost_points_at_tokencast_up_locally_only():
    local = explain(client.ConnectionLost("x"), url="http://127.0.0.1:4000/graphql", local=True)
    cloud = explain(client.ConnectionLost("x"), url="https://a.example/graphql", local=False)
    assert local is not None and cloud is not None and local.code == cloud.code == EXIT_UNREACHABLE
    assert "tokencast up" in (local.hint or "") and "tokencast up" not in (cloud.hint or "")


def test_reported_prints_two_lines_and_sets_the_code():
    err = io.StringIO()
    with reported("watch", debug=False, err=err) as report:
        raise CliError("no session x", "check the id", 1)
    assert report.code == 1
    assert err.getvalue() == "tokencast watch: no session x\n  hint: check the id\n"


def test_reported_keeps_unknown_errors_to_one_line_and_debug_re_raises():
    err = io.StringIO()
    with reported("stream", debug=False, err=err) as report:
        raise RuntimeError("boom\nsecond line")
    assert report.code == 1
    first, hint = err.getvalue().splitlines()
    assert first == "tokencast stream: unexpected error: RuntimeError: boom" and "--debug" in hint
    with pytest.raises(RuntimeError), reported("stream", debug=True, err=io.StringIO()):
        raise RuntimeError("boom")


# --- the status line -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_waiting_ttft_rate_and_stalls():
    clock = Clock()
    progress = Progress(clock=clock)
    clock.now += 1.0
    assert progress.line() == "waiting for the first token… 1.0s"
    clock.now += 3.0
    assert "nothing yet" in progress.line()
    progress.saw("x" * 40)  # first text at 4.0 s
    clock.now += 1.0
    progress.saw("x" * 400)  # 440 chars ≈ 110 tokens over 1 s
    assert progress.line() == "TTFT 4.00s · ≈110 tok/s · 5.0s"
    clock.now += 3.5
    assert progress.line().endswith("stalled: no tokens for 4s")
    progress.reconnecting = True
    assert progress.line().startswith("reconnecting…")


def test_stop_reasons_are_shown_unless_the_answer_ended_naturally():
    assert stop_note("end_turn") is None and stop_note(None) is None and stop_note("stop_sequence") is None
    assert "--max-tokens" in (stop_note("max_tokens") or "")
    result = StreamResult("s", "COMPLETED", "text", 1, usage=Usage(output_tokens=5), stop_reason="max_tokens")
    assert summary(result) == "[COMPLETED, 5 tokens; cut off by the token limit: raise --max-tokens for more]"
    failed = StreamResult("s", "FAILED", "", 1, error="model throttled 3 times")
    assert summary(failed) == "[FAILED; model throttled 3 times]"


def test_json_lines_each_carry_the_session_id():
    out = io.StringIO()
    display = JsonDisplay("sid", out, io.StringIO())
    display.delta(Delta("hi", 1, 2))
    display.finish(StreamResult("sid", "COMPLETED", "hi", 1, usage=Usage(output_tokens=1)))
    first, last = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["sessionId"] == last["sessionId"] == "sid" and last["result"]["status"] == "COMPLETED"
    assert last["result"]["usage"]["output_tokens"] == 1


def test_plain_display_says_reconnecting_once_per_drop():
    err = io.StringIO()
    display = PlainDisplay("sid", io.StringIO(), err)
    for reconnecting in (False, True, True, False):
        display.progress.reconnecting = reconnecting
        display.tick()
    assert err.getvalue().splitlines() == ["[reconnecting… the connection to the API was lost]", "[reconnected]"]


def test_plain_display_notes_a_long_stall_once():
    clock, err = Clock(), io.StringIO()
    display = PlainDisplay("sid", io.StringIO(), err)
    display.progress = Progress(clock=clock)
    display.text("first")
    for _ in range(3):
        clock.now += 6
        display.tick()
    assert err.getvalue().splitlines() == ["[no tokens for 12s; still waiting (Ctrl-C cancels)]"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_display_keeps_all_text_and_draws_the_status_line_on_a_terminal():
    out, err = Tty(), io.StringIO()
    display = LiveDisplay("sid", out, err, text_on_terminal=True)
    display.console.width = 30
    display.start()
    for word in ("Streaming ", "tokens ", "to ", "every ", "subscriber ", "of ", "a ", "session.\nNext ", "line"):
        display.delta(Delta(word, 1, 1))
    display.tick()
    display.finish(StreamResult("sid", "COMPLETED", "", 1, usage=Usage(output_tokens=9)))
    shown = out.getvalue()
    assert "TTFT" in shown, "the status line was drawn"
    for word in ("Streaming", "subscriber", "session.", "Next", "line"):
        assert word in shown
    assert shown.rstrip().endswith("[COMPLETED, 9 tokens]")


# --- up's log lines ---------------------------------------------------------------------------


def test_powertools_json_lines_become_one_short_line():
    record = {
        "level": "INFO",
        "location": "start_stream:52",
        "message": "session started",
        "timestamp": "2026-12-02 06:12:13,731+0000",
        "service": "tokencast-start",
        "cold_start": True,
        "function_name": "start",
        "function_arn": "arn:aws:lambda:us-east-1:000000000000:function:start",
        "sessionId": "26c7e24b",
        "status": "QUEUED",
    }
    assert (
        compact_line(json.dumps(record) + "\n")
        == "06:12:13 INFO  start: session started sessionId=26c7e24b status=QUEUED\n"
    )
    failure = {**record, "level": "ERROR", "message": "job will be redelivered", "exception": "Traceback...\n" * 500}
    failure["exception"] += "botocore.exceptions.EndpointConnectionError: Could not connect"
    failure["exception_name"] = "EndpointConnectionError"
    short = compact_line(json.dumps(failure))
    assert len(short) <= MAX_LINE + 1 and "EndpointConnectionError" in short and "Traceback" not in short
    assert compact_line("tokencast local stack is up\n") == "tokencast local stack is up\n"


def test_up_options_become_the_settings_the_handlers_read():
    """``--flush-window-ms`` and ``--model-id`` reach the handlers as the variables Settings/Limits
    read; nothing else is overridden, so the rest stays what the environment says."""
    from tokencast.cli.local import stack_config
    from tokencast.config import Limits, Settings

    args = build_parser().parse_args(
        [
            "up",
            "--flush-window-ms",
            "20",
            "--model",
            "openai",
            "--openai-base-url",
            "http://127.0.0.1:9/v1",
            "--model-id",
            "llama3.2",
            "--model-id",
            "qwen3",
        ]
    )
    settings = stack_config(args).settings
    assert Settings.from_env(settings).flush_window_ms == 20
    limits = Limits.from_env(settings)
    assert (limits.allowed_models, limits.default_model) == (["llama3.2", "qwen3"], "llama3.2")
    assert set(settings) == {Settings.env_name("flush_window_ms")} | {
        Limits.env_name(name) for name in ("allowed_models", "default_model")
    }


def test_up_refuses_a_negative_flush_window_as_a_usage_error():
    from tokencast.cli.local import stack_config

    with pytest.raises(CliError) as refused:
        stack_config(build_parser().parse_args(["up", "--flush-window-ms", "-1"]))
    assert refused.value.code == EXIT_USAGE and "--flush-window-ms" in refused.value.message

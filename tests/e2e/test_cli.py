"""The real `tokencast` console script, as a user runs it: `tokencast up` in one process, then
`stream`, `watch` and `dlq` in others, finding the stack through the state file `up` wrote."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokencast.client import ApiKeyAuth, TokencastClient
from tokencast.local.admin_client import AdminClient
from tokencast.local.bedrock.text import expected_text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TOKENCAST = str(Path(sys.executable).with_name("tokencast"))
STARTUP_S = 60.0
COMMAND_S = 60.0


def clean_env(state_dir: Path) -> dict[str, str]:
    """This process's environment without what the in-process test stack set on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKENCAST_", "POWERTOOLS_"))}
    env.update(TOKENCAST_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    return env


class UpProcess:
    """`tokencast up` on ephemeral ports, read until it says where it saved its endpoints."""

    def __init__(self, state_dir: Path) -> None:
        self.env = clean_env(state_dir)
        self.state_file = state_dir / "local.json"
        self.process = subprocess.Popen(
            self.command(),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def command(self) -> list[str]:
        fast = ["--tokens-per-second", "2000", "--first-token-delay", "0.01", "--flush-window-ms", "20"]
        return [TOKENCAST, "up", "--port", "0", *fast]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_ready(self) -> dict:
        while True:
            line = self.lines.get(timeout=STARTUP_S)
            assert line is not None, "tokencast up exited:\n" + "".join(self.output)
            self.output.append(line)
            if "endpoints saved to" in line:
                return json.loads(self.state_file.read_text())

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Iterator[tuple[UpProcess, dict]]:
    process = UpProcess(tmp_path_factory.mktemp("tokencast-state"))
    try:
        state = process.wait_ready()
        yield process, state
    finally:
        code = process.stop()
    assert code == 0, "tokencast up stops cleanly on Ctrl-C"
    assert not process.state_file.exists(), "and removes its state file"


def tokencast(up_process: UpProcess, *args: str, module: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tokencast.cli.main"] if module else [TOKENCAST]
    return subprocess.run(command + list(args), env=up_process.env, capture_output=True, text=True, timeout=COMMAND_S)


def in_process(*args: str) -> subprocess.CompletedProcess:
    """The console script's main() in this process, for the synchronous commands (faults, dlq)
    where a Python start per call would only cost time; TOKENCAST_STATE_DIR must point at `up`."""
    from tokencast.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def model_fault(state: dict, rule: dict) -> None:
    AdminClient.for_stack(state["graphql_url"], state["api_key"]).add_model_faults(rule)


def marked(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:10]}"


def test_up_writes_the_state_file_other_commands_use(up):
    process, state = up
    assert state["local"] is True
    assert state["graphql_url"].startswith("http://127.0.0.1:") and state["api_key"]
    assert state["dlq_url"] and state["jobs_queue_url"] and state["table_name"]
    assert any("tokencast local stack is up" in line for line in process.output)


def test_stream_prints_the_answer_and_watch_replays_it(up):
    process, _ = up
    prompt = marked("[tokens=150] Tell me about streaming")
    streamed = tokencast(process, "stream", prompt)
    assert streamed.returncode == 0, streamed.stderr
    expected = expected_text(prompt)
    assert streamed.stdout.startswith(expected)
    assert "[COMPLETED, " in streamed.stdout[len(expected) :]
    session_id = streamed.stderr.split("[session ", 1)[1].split("]", 1)[0]

    watched = tokencast(process, "watch", session_id, "--json", module=True)
    assert watched.returncode == 0, watched.stderr
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    result = lines[-1]["result"]
    assert (result["status"], result["text"], result["attempt"]) == ("COMPLETED", expected, 1)
    assert "".join(line["text"] for line in lines[:-1]) == expected


def dead_sessions(state: dict) -> list[str]:
    """Session ids of the jobs in the stack's DLQ, read with boto3 (left visible)."""
    import boto3

    from tokencast.cli.target import Target

    sqs = boto3.client("sqs", **Target(**state).boto3_kwargs())
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=state["dlq_url"], MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        found += batch
    for message in found:
        sqs.change_message_visibility(
            QueueUrl=state["dlq_url"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [json.loads(m["Body"]).get("sessionId") for m in found]


async def test_dlq_list_and_replay_from_the_command_line(up):
    process, state = up
    prompt, session_id = marked("[tokens=120] A question we may not ask"), str(uuid.uuid4())
    model_fault(state, {"kind": "http_error", "match": prompt, "error": "AccessDeniedException"})

    failed = tokencast(process, "stream", prompt, "--session-id", session_id)
    assert failed.returncode == 1
    assert "[FAILED" in failed.stdout and "access to the model denied" in failed.stdout

    listed = tokencast(process, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["MESSAGE", "ID", "SESSION", "OWNER", "MODEL", "ATTEMPTS", "AGE", "REASON"]
    [row] = [line for line in rows if session_id in line]
    assert "access to the model denied" in row and "anonymous" in row and ".;" not in row
    message_id = row.split()[0]

    shown = tokencast(process, "dlq", "show", message_id, "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert (job["session_id"], job["error_type"], job["attempts"]) == (session_id, "AccessDeniedException", 1)
    assert json.loads(job["body"])["sessionId"] == session_id

    dry = tokencast(process, "dlq", "replay", "--session", session_id, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would-replay" in dry.stdout and "would replay 1, refused 0" in dry.stdout
    assert session_id in dead_sessions(state), "a dry run leaves the job where it is"

    async with TokencastClient(state["graphql_url"], auth=ApiKeyAuth(state["api_key"])) as client:
        follower = await client.watch(session_id, follow=True)
        replay = await asyncio.to_thread(tokencast, process, "dlq", "replay", "--session", session_id)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "replayed 1, refused 0" in replay.stdout
        completed = await follower.result(after_attempt=1)
    assert (completed.status, completed.attempt, completed.text) == ("COMPLETED", 2, expected_text(prompt))
    assert session_id not in dead_sessions(state)

    watched = tokencast(process, "watch", session_id)
    assert watched.returncode == 0 and watched.stdout.startswith(expected_text(prompt))


def test_purge_wants_confirmation(up):
    process, state = up
    model_fault(state, {"kind": "http_error", "match": "purge me", "error": "AccessDeniedException"})
    assert tokencast(process, "stream", "purge me").returncode == 1
    refused = tokencast(process, "dlq", "purge")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert dead_sessions(state), "nothing was deleted"
    purged = tokencast(process, "dlq", "purge", "--yes", "--json")
    assert purged.returncode == 0 and json.loads(purged.stdout)["deleted"] >= 1
    assert dead_sessions(state) == []


# --- a person's mistakes: one line, a hint, an exit code, no traceback ----------------------

UNKNOWN = "0b7e4c3a-5f2d-4e61-9c1a-7d8e9f0a1b2c"


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, command: str, fragment: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    message, hint = result.stderr.splitlines()
    assert message.startswith(f"tokencast {command}: ") and fragment in message, message
    assert hint.startswith("  hint: ") and len(hint) > len("  hint: ")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["stream", ""], 2, "the prompt must not be empty"),
        (["stream", "x", "--max-tokens", "999999"], 2, "--max-tokens must be between 1 and"),
        (["stream", "x", "--temperature", "5"], 2, "--temperature must be between 0 and 1"),
        (["stream", "x", "--session-id", "not-a-uuid"], 2, "--session-id must be a UUID"),
        (["watch", UNKNOWN], 1, f"no session {UNKNOWN}"),
        (["cancel", UNKNOWN], 1, f"no session {UNKNOWN}"),
        (["stream", "x", "--token", "garbage"], 2, "the API refused the credentials"),
        (["stream", "x", "--url", "not-a-url"], 2, "graphql_url must be an http(s) URL"),
        (["faults", "add", "http_error"], 2, "http_error needs --error"),
    ],
    ids=["empty-prompt", "max-tokens", "temperature", "session-id", "watch", "cancel", "token", "url", "fault"],
)
def test_a_mistake_is_one_line_with_a_hint(up, args, code, fragment, monkeypatch, capsys):
    # In this process (the console script's own main()), to spare a Python start per case;
    # test_a_stack_without_a_region_says_so and the others below run the real executable.
    process, _ = up
    monkeypatch.setenv("TOKENCAST_STATE_DIR", process.env["TOKENCAST_STATE_DIR"])
    from tokencast.cli.main import main

    returncode = main(args)
    captured = capsys.readouterr()
    result = subprocess.CompletedProcess(args, returncode, captured.out, captured.err)
    assert_one_line_error(result, code, args[0], fragment)


def test_a_stack_without_a_region_says_so(up, tmp_path):
    process, _ = up
    env = {k: v for k, v in process.env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        [TOKENCAST, "stream", "x", "--stack", "tokencast"], env=env, capture_output=True, text=True, timeout=COMMAND_S
    )
    assert_one_line_error(result, 2, "stream", "no AWS region")
    assert "--region" in result.stderr


def test_debug_shows_the_traceback(up):
    process, _ = up
    result = tokencast(process, "--debug", "watch", UNKNOWN)
    assert result.returncode != 0 and "Traceback (most recent call last)" in result.stderr


def test_a_stack_that_is_not_running_is_named_with_a_hint(up, tmp_path):
    process, state = up
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stale = {**state, "graphql_url": f"http://127.0.0.1:{port}/graphql", "realtime_url": None}
    (tmp_path / "local.json").write_text(json.dumps(stale))
    env = {**process.env, "TOKENCAST_STATE_DIR": str(tmp_path)}
    result = subprocess.run([TOKENCAST, "stream", "hi"], env=env, capture_output=True, text=True, timeout=COMMAND_S)
    assert_one_line_error(result, 3, "stream", f"cannot reach the tokencast API at http://127.0.0.1:{port}/graphql")
    assert "is `tokencast up` running?" in result.stderr


# --- Ctrl-C, detach and cancel --------------------------------------------------------------


class StreamProcess:
    """`tokencast stream` in the background, its stdout and stderr read line by line."""

    def __init__(self, up_process: UpProcess, *args: str) -> None:
        self.process = subprocess.Popen(
            [TOKENCAST, "stream", *args],
            env=up_process.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self._session = threading.Event()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        while chunk := self.process.stdout.read(1):
            self.stdout.put(chunk)

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self._session.set()

    def session_id(self) -> str:
        assert self._session.wait(COMMAND_S), "no [session …] line"
        return self.stderr[0].split("[session ", 1)[1].split("]", 1)[0]

    def wait_for_text(self) -> None:
        self.stdout.get(timeout=COMMAND_S)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=COMMAND_S)


async def session_of(state: dict, session_id: str):
    async with TokencastClient(state["graphql_url"], auth=ApiKeyAuth(state["api_key"])) as client:
        return await client.get_session(session_id)


async def ends_cancelled(state: dict, session_id: str, timeout_s: float = COMMAND_S) -> bool:
    """Whether the session reaches CANCELLED within ``timeout_s`` (its final status, polled)."""
    async with TokencastClient(state["graphql_url"], auth=ApiKeyAuth(state["api_key"])) as client:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            session = await client.get_session(session_id)
            if session.is_final:
                return session.status == "CANCELLED"
            await asyncio.sleep(0.1)
    return False


#: what the CLI says after cancelling: the outcome, or -- when the worker is slower than the
#: CLI waits (a loaded machine) -- that the cancel was requested
CANCEL_OUTCOMES = ("cancelled session {id}: [CANCELLED", "cancel requested for session {id}")


def said_cancelled(text: str, session_id: str) -> bool:
    return any(line.format(id=session_id) in text for line in CANCEL_OUTCOMES)


async def test_ctrl_c_on_stream_cancels_the_session(up):
    process, state = up
    prompt = marked("[tokens=2000] a long answer nobody will read")
    model_fault(state, {"kind": "slow", "match": prompt, "delay_s": 0.02})
    stream = StreamProcess(process, prompt)
    session_id = stream.session_id()
    stream.wait_for_text()
    assert await asyncio.to_thread(stream.interrupt) == 130
    stderr = "".join(stream.stderr)
    assert f"cancelling session {session_id}" in stderr and said_cancelled(stderr, session_id)
    assert "Traceback" not in stderr
    assert await ends_cancelled(state, session_id)


def test_a_reader_going_away_cancels_the_session_too(up):
    """`tokencast stream --json … | head -1`: the pipe closes, the model must not go on for nobody."""
    process, state = up
    prompt = marked("[tokens=2000] only the first line is read")
    model_fault(state, {"kind": "slow", "match": prompt, "delay_s": 0.02})
    reader = subprocess.Popen(
        [TOKENCAST, "stream", "--json", prompt],
        env=process.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stderr is not None
    session_id = json.loads(reader.stdout.readline())["sessionId"]
    reader.stdout.close()
    reader.wait(COMMAND_S)
    stderr = reader.stderr.read()
    assert said_cancelled(stderr, session_id) and "Traceback" not in stderr
    assert asyncio.run(ends_cancelled(state, session_id))


async def test_detach_leaves_the_session_running_and_cancel_says_what_it_did(up):
    process, state = up
    prompt = marked("[tokens=2000] keep going without me")
    model_fault(state, {"kind": "slow", "match": prompt, "delay_s": 0.02})
    stream = StreamProcess(process, prompt, "--detach")
    session_id = stream.session_id()
    stream.wait_for_text()
    assert await asyncio.to_thread(stream.interrupt) == 130
    assert f"detached; session {session_id} keeps running" in "".join(stream.stderr)
    assert (await session_of(state, session_id)).status == "STREAMING"

    cancelled = await asyncio.to_thread(tokencast, process, "cancel", session_id)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert cancelled.stdout.splitlines() == [cancelled.stdout.strip()]
    assert cancelled.stdout.startswith(
        (f"cancelled session {session_id}", f"cancel requested for session {session_id}")
    )
    assert await ends_cancelled(state, session_id)

    again = await asyncio.to_thread(tokencast, process, "cancel", session_id)
    assert again.returncode == 1
    assert again.stdout.strip() == f"session {session_id} had already ended CANCELLED; nothing to cancel"


def test_cancel_of_a_finished_session_has_nothing_to_cancel(up):
    process, _ = up
    session_id = str(uuid.uuid4())
    assert tokencast(process, "stream", marked("[tokens=5] short"), "--session-id", session_id).returncode == 0
    result = tokencast(process, "cancel", session_id)
    assert result.returncode == 1
    assert result.stdout.strip() == f"session {session_id} had already ended COMPLETED; nothing to cancel"


# --- honest feedback -----------------------------------------------------------------------


async def test_reusing_a_session_id_for_a_different_request_is_a_conflict(up):
    process, state = up
    session_id, prompt = str(uuid.uuid4()), marked("[tokens=20] the first question")
    assert tokencast(process, "stream", prompt, "--session-id", session_id).returncode == 0

    other = tokencast(process, "stream", marked("another question"), "--session-id", session_id)
    assert_one_line_error(other, 1, "stream", "--session-id already used by a different request")

    same = tokencast(process, "stream", prompt, "--session-id", session_id)
    assert same.returncode == 0 and same.stdout.startswith(expected_text(prompt)), "the same request rejoins"

    from tokencast.client import Conflict

    async with TokencastClient(state["graphql_url"], auth=ApiKeyAuth(state["api_key"])) as client:
        with pytest.raises(Conflict, match="already used by a different request"):
            await client.start("yet another question", session_id=session_id)


def test_json_lines_carry_the_session_id_and_a_cut_answer_says_so(up):
    process, _ = up
    prompt = marked("[tokens=200] a long answer")
    streamed = tokencast(process, "stream", "--json", prompt, "--max-tokens", "5")
    assert streamed.returncode == 0, streamed.stderr
    lines = [json.loads(line) for line in streamed.stdout.splitlines()]
    session_id = lines[0]["sessionId"]
    assert all(line["sessionId"] == session_id for line in lines)
    assert lines[-1]["result"]["stop_reason"] == "max_tokens"

    text = tokencast(process, "stream", prompt, "--max-tokens", "5")
    assert text.stdout.rstrip().endswith(
        "[COMPLETED, 5 tokens; cut off by the token limit: raise --max-tokens for more]"
    )
    assert "\x1b[" not in text.stdout + text.stderr, "no escape codes when piped"

    natural = tokencast(process, "stream", marked("[tokens=5] short"))
    assert natural.stdout.rstrip().endswith("[COMPLETED, 5 tokens]") or "cut off" not in natural.stdout


# --- practising failure: faults → DLQ → replay ------------------------------------------------


async def test_faults_walk_a_job_through_failure_dlq_and_replay(up, monkeypatch):
    process, state = up
    monkeypatch.setenv("TOKENCAST_STATE_DIR", process.env["TOKENCAST_STATE_DIR"])
    prompt, session_id = marked("[tokens=30] practise failure"), str(uuid.uuid4())
    match = prompt.rsplit("#", 1)[1]

    added = in_process("faults", "add", "throttle", "--times", "3", "--match", match)
    assert added.returncode == 0, added.stderr
    assert (
        added.stdout.startswith("armed fault rule ")
        and f'3 more requests, prompts containing "{match}"' in added.stdout
    )
    listed = in_process("faults", "list", "--json")
    assert any(rule["match"] == match and rule["remaining"] == 3 for rule in json.loads(listed.stdout))

    failed = tokencast(process, "stream", prompt, "--session-id", session_id)
    assert failed.returncode == 1
    assert "[FAILED; model throttled 3 times; job moved to the dead-letter queue]" in failed.stdout
    assert not any(rule["match"] == match for rule in json.loads(in_process("faults", "list", "--json").stdout))

    dead = in_process("dlq", "list")
    [row] = [line for line in dead.stdout.splitlines() if session_id in line]
    message_id = row.split()[0]
    looks = [json.loads(in_process("dlq", "show", message_id, "--json").stdout) for _ in range(2)]
    for look in looks:
        look.pop("age_s")
    assert looks[0] == looks[1], "looking at a job changes nothing it reports"
    assert looks[0]["attempts"] == 3 and "receive_count" not in looks[0]
    assert "receive" not in in_process("dlq", "show", message_id).stdout

    replayed = in_process("dlq", "replay", "--session", session_id)
    assert "replayed 1, refused 0" in replayed.stdout
    watched = await asyncio.to_thread(tokencast, process, "watch", session_id)
    assert watched.returncode == 0 and watched.stdout.startswith(expected_text(prompt))

    in_process("faults", "add", "stall", "--always", "--match", marked("x"))
    cleared = in_process("faults", "clear")
    assert cleared.returncode == 0 and cleared.stdout.startswith("removed ")
    assert in_process("faults", "list").stdout.strip() == "no fault rules armed: the local model answers normally"


# --- what `up` prints ------------------------------------------------------------------------


def test_the_banner_suggests_a_command_that_exists_and_warns_sessions_vanish(up):
    process, _ = up
    banner = "".join(process.output)
    suggested = banner.split("try:  ", 1)[1].split(" stream ", 1)[0]
    assert suggested == "tokencast" or Path(suggested).resolve() == Path(TOKENCAST).resolve()
    assert "vanish when this stops" in banner


def test_up_logs_one_short_line_per_event(up):
    process, _ = up
    assert tokencast(process, "stream", marked("[tokens=5] log me")).returncode == 0
    seen: list[str] = []
    while not any("job settled" in line for line in seen):
        line = process.lines.get(timeout=COMMAND_S)
        assert line is not None
        seen.append(line)
    process.output += seen
    assert all(len(line) <= 241 for line in seen), max(seen, key=len)
    assert not any(line.lstrip().startswith("{") for line in seen)

"""The real `tokencast` console script, as a user runs it: `tokencast up` in one process, then
`stream`, `watch` and `dlq` in others, finding the stack through the state file `up` wrote."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
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
            [
                TOKENCAST,
                "up",
                "--port",
                "0",
                "--tokens-per-second",
                "2000",
                "--first-token-delay",
                "0.01",
                "--flush-window-ms",
                "20",
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

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
    assert "access to the model denied" in row and "anonymous" in row
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

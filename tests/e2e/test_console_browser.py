"""The web console in headless Chromium, driven as a person would, against the real local stack.

A person signs in, types a prompt, submits, watches the text grow and end exactly as the
model wrote it; opens the session's URL in a second tab and reads the same text; cancels a
long answer and keeps what was written; another user cannot read a private session and
watches a SHARED one live. The answers' pace comes from the local model's ``slow`` fault
rule (matched on a marker in the prompt), so "the text grows" is observable, not timed.

Needs Debian's ``chromium`` (``apt-get install chromium``; CI installs it) and Playwright for
Python pointed at it -- no browser is ever downloaded. Skipped, saying so, without Chromium.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.fault_helpers import marked
from tokencast.local.bedrock.text import expected_text
from tokencast.local.console import CONSOLE_DIST

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium); skipped",
        allow_module_level=True,
    )
playwright = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

WAIT_MS = 30_000
ANSWER = "[data-testid=answer]"
#: true once the answer shows a non-empty, strict, correct beginning of the expected text
GROWING = """(expected) => {
  const shown = document.querySelector('[data-testid=answer]')?.textContent ?? '';
  return shown.length > 0 && shown.length < expected.length && expected.startsWith(shown);
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert (CONSOLE_DIST / "index.html").is_file(), "the console is not built: run `make setup`"
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def person(browser):
    """``person()`` → a fresh browser profile (its own storage: its own sign-in).

    It accepts the local stack's TLS certificate as a person who trusted the local CA would.
    """
    contexts = []

    def make():
        context = browser.new_context(ignore_https_errors=True)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def user_name(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}"


def sign_in(context, base: str, user: str):
    page = context.new_page()
    page.goto(base + "/")
    page.fill("input[name=user]", user)
    page.click("text=Sign in as this user")
    page.wait_for_selector("textarea[name=prompt]")
    assert page.text_content("[data-testid=signed-in-as]") == f"signed in as {user}"
    return page


def submit(page, prompt: str, *, visibility: str = "PRIVATE", system: str = "") -> str:
    """Type and submit a prompt; returns the session id from the URL the page moved to."""
    page.fill("textarea[name=prompt]", prompt)
    if system:
        page.fill("textarea[name=system]", system)
    page.select_option("select[name=visibility]", visibility)
    page.click("button[type=submit]")
    page.wait_for_url("**/s/*")
    return page.url.rsplit("/s/", 1)[1]


def ended(page, status: str) -> str:
    page.wait_for_selector(f"[data-testid=ended]:has-text('ended {status}')")
    return page.text_content(ANSWER) or ""


def slow(local_stack, prompt: str, delay_s: float) -> None:
    local_stack.stack.model.add_fault({"kind": "slow", "match": prompt, "delay_s": delay_s, "times": None})


@pytest.mark.parametrize(
    "scheme",
    [
        pytest.param("http", id="http-own-transport"),
        pytest.param("https", id="https-amplify"),  # over TLS the console streams through Amplify v6
    ],
)
def test_a_prompt_streams_live_ends_exactly_and_its_url_shows_the_same_text(local_stack, person, scheme):
    endpoints = local_stack.endpoints
    base = (endpoints.https_console_url if scheme == "https" else endpoints.console_url).rstrip("/")
    assert base.startswith(f"{scheme}://")
    prompt, system = marked("[tokens=60] What does the console show?"), "Answer plainly."
    expected = expected_text(prompt, system)
    slow(local_stack, prompt, 0.02)
    context = person()
    sockets: list[str] = []
    context.on("page", lambda p: p.on("websocket", lambda ws: sockets.append(ws.url)))
    page = sign_in(context, base, user_name("alice"))

    session_id = submit(page, prompt, system=system)
    page.wait_for_function(GROWING, arg=expected)  # the text grows in front of the reader
    assert ended(page, "COMPLETED") == expected
    assert page.text_content("[data-testid=status]") == "COMPLETED"
    page.wait_for_selector("[data-testid=figure-usage]")
    assert "tokens" in page.text_content("[data-testid=figure-events]")
    row = page.wait_for_selector(f"[data-testid=session-row][data-session-id='{session_id}']")
    assert "COMPLETED" in row.text_content()

    second_tab = context.new_page()  # the same person, another tab: the session's own URL
    second_tab.goto(page.text_content("[data-testid=session-link]"))
    assert ended(second_tab, "COMPLETED") == expected
    # Real-time over the page's own scheme: Amplify's wss:// on TLS, the console's ws:// otherwise.
    assert sockets and all(url.startswith({"https": "wss://", "http": "ws://"}[scheme]) for url in sockets)


def test_a_restart_is_shown_as_it_happens_and_the_text_starts_over(local_stack, person):
    base = local_stack.endpoints.console_url.rstrip("/")
    prompt = marked("[tokens=40] Please survive a hiccup")
    local_stack.stack.model.add_fault({"kind": "fail_after", "match": prompt, "after": 10})
    page = sign_in(person(), base, user_name("alice"))

    submit(page, prompt)
    assert ended(page, "COMPLETED") == expected_text(prompt)
    assert "attempt 2 restarted the answer" in page.text_content("[data-testid=restarts]")
    assert page.text_content("[data-testid=attempt]") == "attempt 2"


def test_the_owner_cancels_a_long_answer_and_the_stopped_text_stays(local_stack, person):
    base = local_stack.endpoints.console_url.rstrip("/")
    prompt = marked("[tokens=400] A long answer to stop")
    slow(local_stack, prompt, 0.05)
    context = person()
    page = sign_in(context, base, user_name("alice"))

    session_id = submit(page, prompt)
    page.wait_for_function(GROWING, arg=expected_text(prompt))
    page.click("[data-testid=cancel]")
    stopped = ended(page, "CANCELLED")
    assert stopped and expected_text(prompt).startswith(stopped) and len(stopped) < len(expected_text(prompt))

    page.goto(f"{base}/s/{session_id}")  # read again later: the stopped text is kept
    assert ended(page, "CANCELLED") == stopped


def test_another_user_cannot_read_a_private_session_and_watches_a_shared_one_live(local_stack, person):
    base = local_stack.endpoints.console_url.rstrip("/")
    alice = sign_in(person(), base, user_name("alice"))
    bob = sign_in(person(), base, user_name("bob"))

    private_prompt = marked("[tokens=20] alice's secret")
    private_id = submit(alice, private_prompt)
    assert ended(alice, "COMPLETED") == expected_text(private_prompt)
    bob.goto(f"{base}/s/{private_id}")
    notice = bob.wait_for_selector("[data-testid=private-notice]")
    assert "private" in notice.text_content()
    assert bob.query_selector(ANSWER) is None
    assert expected_text(private_prompt)[:20] not in bob.content()

    shared_prompt = marked("[tokens=80] alice shares this one")
    slow(local_stack, shared_prompt, 0.03)
    alice.goto(base + "/")
    shared_id = submit(alice, shared_prompt, visibility="SHARED")
    bob.goto(f"{base}/s/{shared_id}")
    bob.wait_for_function(GROWING, arg=expected_text(shared_prompt))  # bob watches it live
    assert ended(bob, "COMPLETED") == expected_text(shared_prompt)
    assert bob.query_selector("[data-testid=cancel]") is None  # only the owner may cancel
    assert ended(alice, "COMPLETED") == expected_text(shared_prompt)


def test_a_failed_job_is_listed_with_its_reason_and_replayed_from_the_failed_jobs_page(local_stack, person):
    base = local_stack.endpoints.console_url.rstrip("/")
    prompt = marked("[tokens=20] denied, then replayed")
    local_stack.stack.model.add_fault({"kind": "http_error", "match": prompt, "error": "AccessDeniedException"})
    page = sign_in(person(), base, user_name("alice"))

    session_id = submit(page, prompt)
    ended(page, "FAILED")
    assert "access to the model denied" in page.text_content("[data-testid=session-error]")

    page.click("text=Failed jobs")
    row = page.wait_for_selector(f"[data-testid=dlq-job]:has-text('{session_id}')")
    assert "AccessDeniedException" in row.text_content() and "access to the model denied" in row.text_content()
    row.query_selector("button").click()
    page.wait_for_selector(f"[data-testid=dlq-results]:has-text('{session_id}: replayed')")

    page.goto(f"{base}/s/{session_id}")  # the replay streams it again as a new attempt
    assert ended(page, "COMPLETED") == expected_text(prompt)
    assert page.text_content("[data-testid=attempt]") == "attempt 2"


def test_with_the_api_key_a_prompt_streams_without_signing_in_as_anyone(local_stack, person):
    base = local_stack.endpoints.console_url.rstrip("/")
    prompt = marked("[tokens=15] as the API key")
    page = person().new_page()
    page.goto(base + "/")
    page.click("[data-testid=use-api-key]")
    assert page.text_content("[data-testid=signed-in-as]") == "API key"

    session_id = submit(page, prompt)
    assert ended(page, "COMPLETED") == expected_text(prompt)
    # My sessions comes from the owner index, which is eventually consistent: wait for the row.
    assert page.wait_for_selector(f"[data-testid=session-row][data-session-id='{session_id}']") is not None

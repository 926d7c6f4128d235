// useTokenStream rendered by React DOM into happy-dom's document, driving the real client
// against the in-memory fake server. React renders on its own scheduler, as in a browser
// (no act): each wait is for a committed render whose state passes a check, never a sleep.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Window } from "happy-dom";

// React DOM looks for a document (and a navigator) when it loads: the globals come first.
const window = new Window();
Object.assign(globalThis, { window, document: window.document, IS_REACT_ACT_ENVIRONMENT: false });
if (globalThis.navigator === undefined) globalThis.navigator = window.navigator; // Node 21+ has its own
const { createElement, useEffect } = await import("react");
const { createRoot } = await import("react-dom/client");
const { useTokenStream } = await import("../dist/react.js");
const { QuotaExceeded, SessionNotFound, createTokencastClient } = await import("../dist/index.js");
const { FAST, FakeServer, attempt } = await import("../test-support/fake-server.js");

/**
 * Mount a component that uses the hook and shows its text. `until(check)` resolves with the
 * first committed state that passes `check`; `texts` is every committed text, in order.
 */
function mount(client) {
  const container = document.createElement("div");
  const root = createRoot(container);
  const hook = { container, current: null, texts: [], waiters: [] };
  function Probe() {
    const state = useTokenStream(client);
    useEffect(() => {
      hook.current = state;
      hook.texts.push(state.text);
      for (const waiter of [...hook.waiters]) {
        if (waiter.check(state)) {
          hook.waiters.splice(hook.waiters.indexOf(waiter), 1);
          waiter.resolve(state);
        }
      }
    });
    return createElement("output", null, state.text);
  }
  root.render(createElement(Probe));
  hook.until = (check) =>
    new Promise((resolve) => {
      if (hook.current !== null && check(hook.current)) resolve(hook.current);
      else hook.waiters.push({ check, resolve });
    });
  hook.unmount = () => root.unmount();
  return hook;
}

function setUp() {
  const server = new FakeServer();
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  return { server, client, hook: mount(client) };
}

function live(server, sessionId) {
  return [...server.subscribers].filter((s) => s.sessionId === sessionId);
}

test("before anything starts, the hook shows an idle state", async () => {
  const { hook } = setUp();
  const idle = await hook.until(() => true);
  assert.deepEqual(
    { ...idle, start: undefined, watch: undefined, cancel: undefined },
    { sessionId: null, text: "", status: null, attempt: 0, error: null, failure: null, done: false, stream: null, start: undefined, watch: undefined, cancel: undefined },
  );
  hook.unmount();
});

test("start renders the session's text as it streams, then its end", async () => {
  const { server, hook } = setUp();
  await hook.until(() => true);
  const stream = await hook.current.start({ prompt: "hi" });
  assert.ok(stream, "start hands back the stream");
  const [started, hel, lo, completed] = attempt(stream.sessionId, 1, ["Hel", "lo"]);
  server.publish(started);
  server.publish(hel);
  const partial = await hook.until((s) => s.text === "Hel");
  assert.equal(hook.container.textContent, "Hel");
  assert.equal(partial.sessionId, stream.sessionId);
  assert.equal(partial.attempt, 1);
  assert.equal(partial.done, false);
  assert.equal(partial.stream, stream);

  server.publish(lo);
  server.publish(completed);
  const end = await hook.until((s) => s.done);
  assert.equal(end.text, "Hello");
  assert.equal(end.status, "COMPLETED");
  assert.equal(end.failure, null);
  assert.equal(end.error, null);
  assert.equal(hook.container.textContent, "Hello");
  assert.equal(live(server, stream.sessionId).length, 0, "the finished stream unsubscribed");
  hook.unmount();
});

test("a restart replaces the shown text with the new attempt's, never appending to it", async () => {
  const { server, hook } = setUp();
  await hook.until(() => true);
  const stream = await hook.current.start({ prompt: "hi" });
  attempt(stream.sessionId, 1, ["wrong"], null).forEach((e) => server.publish(e));
  await hook.until((s) => s.text === "wrong");
  attempt(stream.sessionId, 2, ["right"]).forEach((e) => server.publish(e));
  const end = await hook.until((s) => s.done);
  assert.equal(end.text, "right");
  assert.equal(end.attempt, 2);
  assert.equal(hook.container.textContent, "right");
  assert.ok(
    hook.texts.every((t) => ["", "wrong", "right"].includes(t)),
    `every rendered text is one attempt's: ${JSON.stringify(hook.texts)}`,
  );
  hook.unmount();
});

test("a refused start or watch shows the failure, with no session", async () => {
  const { server, hook } = setUp();
  await hook.until(() => true);
  assert.equal(await hook.current.start({ prompt: "quota" }), null); // the fake refuses this prompt (Quota)
  const refused = await hook.until((s) => s.failure !== null);
  assert.ok(refused.failure instanceof QuotaExceeded, String(refused.failure));
  assert.equal(refused.sessionId, null);
  assert.equal(refused.text, "");
  assert.equal(server.subscribers.size, 0, "the subscription opened before startStream was closed");

  assert.equal(await hook.current.watch("00000000-0000-4000-8000-000000000000"), null);
  const missing = await hook.until((s) => s.failure instanceof SessionNotFound);
  assert.equal(missing.sessionId, null);
  hook.unmount();
});

test("watch shows another session and closes the stream shown before", async () => {
  const { server, hook } = setUp();
  await hook.until(() => true);
  const first = await hook.current.start({ prompt: "hi" });
  attempt(first.sessionId, 1, ["a"], null).forEach((e) => server.publish(e));
  await hook.until((s) => s.text === "a");

  const other = "11111111-1111-4111-8111-111111111111";
  server.sessions.set(other, { sessionId: other, status: "COMPLETED", attempt: 1, text: "bee", lastSeq: 3 });
  attempt(other, 1, ["bee"]).forEach((e) => server.publish(e, { live: false }));
  const watched = await hook.current.watch(other);
  const end = await hook.until((s) => s.sessionId === other && s.done);
  assert.equal(end.text, "bee");
  assert.equal(end.status, "COMPLETED");
  assert.equal(end.stream, watched);
  assert.equal(hook.container.textContent, "bee");
  assert.ok(first.closed, "the first stream was closed");
  assert.equal(live(server, first.sessionId).length, 0, "and no longer subscribed");
  hook.unmount();
});

test("cancel asks the server to cancel the shown session, which then ends CANCELLED", async () => {
  const { server, hook } = setUp();
  await hook.until(() => true);
  const stream = await hook.current.start({ prompt: "hi" });
  const [started, token] = attempt(stream.sessionId, 1, ["par"], null);
  server.publish(started);
  server.publish(token);
  await hook.until((s) => s.text === "par");
  await hook.current.cancel();
  assert.deepEqual(
    server.calls.filter((c) => c.op === "cancelStream").map((c) => c.variables),
    [{ sessionId: stream.sessionId }],
  );
  server.publish({ sessionId: stream.sessionId, attempt: 1, seq: 3, type: "CANCELLED", token: "", isComplete: true });
  const end = await hook.until((s) => s.done);
  assert.equal(end.status, "CANCELLED");
  assert.equal(end.text, "par");
  hook.unmount();
});

test("unmounting closes the stream it shows", async () => {
  const { server, hook } = setUp();
  await hook.until(() => true);
  const stream = await hook.current.start({ prompt: "hi" });
  server.publish(attempt(stream.sessionId, 1, [], null)[0]);
  await hook.until((s) => s.sessionId === stream.sessionId);
  assert.equal(live(server, stream.sessionId).length, 1);
  const ended = new Promise((resolve) => stream.onEnd(resolve));
  hook.unmount();
  await ended;
  assert.ok(stream.closed);
  assert.equal(stream.done, false, "closed before its end");
  assert.equal(live(server, stream.sessionId).length, 0);
});
